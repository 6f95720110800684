import type { Secret } from '../core/secret.js';
import type { ImageReference } from '../config/image-reference.js';
import type { NetworkMode, PortMapping } from '../config/taupage-config.js';

/** A bind mount of a host path into the container. */
export interface BindMount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/** Everything Docker needs to create the application container, in our own terms. */
export interface ContainerSpec {
  readonly name: string;
  readonly image: ImageReference;
  /** Values that came from KMS stay Secrets until the adapter hands them to Docker. */
  readonly env: readonly { readonly name: string; readonly value: string | Secret }[];
  /** Published ports; empty unless the network mode is `bridge` (Docker cannot publish otherwise). */
  readonly ports: readonly PortMapping[];
  readonly mounts: readonly BindMount[];
  /** `uid` or `uid:gid`, or undefined for the image's own user (root: true). */
  readonly user: string | undefined;
  /** Supplementary group ids (`--group-add`); undefined or empty: none. */
  readonly groupAdd?: readonly string[] | undefined;
  readonly restartPolicy: { readonly name: 'on-failure'; readonly maximumRetryCount: number };
  /**
   * Docker's log driver for the container's own output (what `docker logs` and the shipper read).
   * Option values from `aws:kms:` stay Secrets until the adapter hands them to Docker.
   */
  readonly logConfig: {
    readonly driver: string;
    readonly options: Readonly<Record<string, string | Secret>>;
  };
  readonly labels: Readonly<Record<string, string>>;
  /*
   * The options below are optional so a hand-written spec (tests) can leave them out: absent
   * means Docker's default. buildContainerSpec always sets every one of them.
   */
  readonly privileged?: boolean;
  /** Read-only root filesystem (`--read-only`). */
  readonly readOnlyRootfs?: boolean;
  /** /dev/shm size in bytes; undefined: Docker's default (64 MB). */
  readonly shmSizeBytes?: number | undefined;
  /** undefined: Docker's default (the container id). */
  readonly hostname?: string | undefined;
  /** undefined: bridge. */
  readonly networkMode?: NetworkMode;
  /** Capability names without `CAP_`. */
  readonly capAdd?: readonly string[];
  readonly capDrop?: readonly string[];
  /** Seconds Docker waits after SIGTERM before SIGKILL on `docker stop` and daemon shutdown. */
  readonly stopTimeoutSeconds?: number | undefined;
  readonly resources?: {
    /** Hard limit in bytes. */
    readonly memoryBytes: number | undefined;
    /** Soft limit in bytes. */
    readonly memoryReservationBytes: number | undefined;
    /** CPUs × 10⁹ (Docker's NanoCpus). */
    readonly nanoCpus: number | undefined;
    readonly cpuShares: number | undefined;
  };
}

export type ContainerState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerInfo {
  readonly id: string;
  readonly name: string;
  readonly state: ContainerState;
  readonly exitCode: number | undefined;
  readonly restartCount: number;
  readonly oomKilled: boolean;
  readonly startedAt: string | undefined;
  readonly finishedAt: string | undefined;
  /** Docker's own HEALTHCHECK status, when the image has one. */
  readonly health: 'starting' | 'healthy' | 'unhealthy' | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly imageId: string;
}

export interface RegistryAuth {
  readonly username: string;
  readonly password: Secret;
  readonly serverAddress: string;
}

export interface PullProgress {
  readonly status: string;
  /** Bytes downloaded so far across layers, when Docker reports it. */
  readonly downloadedBytes: number;
}

export interface PullOptions {
  readonly auth: RegistryAuth | undefined;
  readonly signal: AbortSignal;
  /** Abort when Docker reports no progress for this long (a stuck registry connection). */
  readonly inactivityTimeoutMs: number;
  /** Abort the pull when it has not finished after this long, progress or not. */
  readonly deadlineMs: number;
  readonly onProgress?: (progress: PullProgress) => void;
}

/**
 * Port: the container engine, in domain verbs. Adapters throw TaupageError (IMAGE_NOT_FOUND,
 * REGISTRY_AUTH_FAILED, IMAGE_PULL_FAILED, IMAGE_PULL_STALLED, DOCKER_UNAVAILABLE,
 * DOCKER_SERVER_ERROR, CONTAINER_FAILED).
 */
export interface ContainerRuntime {
  imageExists(image: ImageReference, signal: AbortSignal): Promise<boolean>;
  /** Concurrent pulls of the same reference share one Docker pull. */
  pullImage(image: ImageReference, options: PullOptions): Promise<void>;
  findContainer(name: string, signal: AbortSignal): Promise<ContainerInfo | undefined>;
  createContainer(spec: ContainerSpec, signal: AbortSignal): Promise<ContainerInfo>;
  startContainer(id: string, signal: AbortSignal): Promise<void>;
  inspectContainer(id: string, signal: AbortSignal): Promise<ContainerInfo | undefined>;
  stopContainer(id: string, timeoutSeconds: number, signal: AbortSignal): Promise<void>;
  removeContainer(id: string, signal: AbortSignal): Promise<void>;
}
