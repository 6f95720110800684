import { REDACTED, type Secret } from '../core/secret.js';
import { formatImageReference } from '../config/image-reference.js';
import type { ConfigValue, TaupageConfig } from '../config/taupage-config.js';
import type { ConfigSecrets } from '../secrets/decrypt-config-secrets.js';
import type { BindMount, ContainerSpec } from './container-runtime.js';

export const CONTAINER_LABELS = {
  managed: 'io.taupage.managed',
  applicationId: 'io.taupage.application-id',
  applicationVersion: 'io.taupage.application-version',
  configDigest: 'io.taupage.config-digest',
} as const;

/**
 * The container's output stays on the host in bounded files (5 × 50 MB at most): `docker logs`
 * and the log shipper read them, and a chatty app cannot fill the disk, which in the original
 * took SSH down with it (Taupage #176). Docker's `local` driver, which Docker recommends over
 * json-file: it compresses rotated files, and dockerd serves the log shipper's follow with about
 * a fifth less CPU than from json-file (bench/logs: 1.8–2.1 against 2.4–2.6 CPU s for 200,000
 * lines). `docker.log_driver`/`log_opt` override this; `log_opt` alone (or `log_driver: local`
 * or `json-file`, which take the same options) adjusts these options.
 */
export const BOUNDED_CONTAINER_LOGS = {
  driver: 'local',
  options: { 'max-size': '50m', 'max-file': '5' },
} as const;

/** Drivers that take BOUNDED_CONTAINER_LOGS' options. */
const FILE_LOG_DRIVERS: ReadonlySet<string> = new Set(['local', 'json-file']);

/** Host paths the AMI provides; settings so tests (and other AMIs) can point elsewhere. */
export interface ContainerHostPaths {
  /** The Docker engine's socket, bound for `docker_daemon_access`. */
  readonly dockerSocket: string;
  /** Bound read-only at /var/log-host for `mount_var_log`. */
  readonly varLog: string;
  /** Bound at /var/log for `mount_custom_log` (shipped and rotated as custom logs). */
  readonly customLog: string;
  /** The host trust store, bound read-only at /etc/ssl/certs for `mount_certs`. */
  readonly certs: string;
  /** Host side of every `mounts:` entry: `<mountsRoot><path>` (the disk step prepares it). */
  readonly mountsRoot: string;
  /**
   * A Docker CLI on the host, bound read-only at /usr/bin/docker for `docker_daemon_access` (the
   * original bound the host's /usr/bin/docker and eight host libraries). Best a static binary,
   * which runs in any image; undefined: only the socket is bound.
   */
  readonly dockerCli?: string | undefined;
}

/** Where the original Taupage AMI had them. */
export const DEFAULT_HOST_PATHS: ContainerHostPaths = {
  dockerSocket: '/var/run/docker.sock',
  varLog: '/var/log',
  customLog: '/var/log-custom',
  certs: '/etc/ssl/certs',
  mountsRoot: '/mounts',
};

/** Fixed paths inside the container, as the original mounted them. */
export const CONTAINER_PATHS = {
  meta: '/meta',
  credentials: '/meta/credentials',
  dockerSocket: '/var/run/docker.sock',
  dockerCli: '/usr/bin/docker',
  varLog: '/var/log-host',
  customLog: '/var/log',
  certs: '/etc/ssl/certs',
} as const;

export interface ContainerSpecSettings {
  readonly containerName: string;
  /** Host directory mounted read-only at /meta (holds taupage.yaml, later credentials). */
  readonly metaDir: string;
  /** uid:gid of the host's `application` user (fixed in the AMI). */
  readonly applicationUser: string;
  /**
   * `--user` unless `root: true`; undefined: the uid of applicationUser alone, as the original's
   * `-u 999`, so the group is the image's (the AMI can say otherwise, e.g. `999:999`).
   */
  readonly containerUser?: string | undefined;
  /** AMI host paths; DEFAULT_HOST_PATHS when absent. */
  readonly hostPaths?: ContainerHostPaths;
  /** The instance (after the imds step): the `awslogs` driver's default stream and region. */
  readonly instance?: { readonly instanceId: string; readonly region: string } | undefined;
  /** `ETCD_URL` in the container when `etcd_discovery_domain` is set (ETCD_CONTAINER_URL). */
  readonly etcdUrl?: string | undefined;
}

/** The original's ETCD_URL: its etcd listened on docker0's address (172.17.0.1:2379). */
export const ETCD_CONTAINER_URL = 'http://172.17.0.1:2379';

/**
 * The container the config describes. Pure: `taupage plan` calls it without secrets (they
 * show as [redacted]), the boot calls it with the decrypted values.
 */
export function buildContainerSpec(
  config: TaupageConfig,
  digest: string,
  settings: ContainerSpecSettings,
  secrets: ConfigSecrets | undefined,
): ContainerSpec {
  const resolve = (value: ConfigValue): string | Secret =>
    secrets?.resolve(value) ?? (value.kind === 'plain' ? value.value : REDACTED);
  const env: { name: string; value: string | Secret }[] = [];
  // First, so a TOKENINFO_URL in `environment` wins, as with the original's `-e` order. The
  // original pointed it at a local Plan B token info when `local_planb_tokeninfo` was healthy;
  // taupage runs no token info, so `tokeninfo_url` (usually baked into the AMI defaults) it is.
  if (config.tokeninfoUrl !== undefined && !config.environment.some((v) => v.name === 'TOKENINFO_URL'))
    env.push({ name: 'TOKENINFO_URL', value: config.tokeninfoUrl });
  env.push(
    ...config.environment.map((variable) => ({ name: variable.name, value: resolve(variable.value) })),
  );
  // After the user's variables, as the original's `-e` order: taupage's ETCD_URL wins.
  if (config.etcdDiscoveryDomain !== undefined)
    env.push({ name: 'ETCD_URL', value: settings.etcdUrl ?? ETCD_CONTAINER_URL });
  // Set after the user's variables so they win, as in the original.
  if (config.applicationId !== undefined) env.push({ name: 'APPLICATION_ID', value: config.applicationId });
  if (config.applicationVersion !== undefined)
    env.push({ name: 'APPLICATION_VERSION', value: config.applicationVersion });
  env.push({ name: 'CREDENTIALS_DIR', value: CONTAINER_PATHS.credentials });

  const labels: Record<string, string> = {
    [CONTAINER_LABELS.managed]: 'true',
    [CONTAINER_LABELS.configDigest]: digest,
  };
  if (config.applicationId !== undefined) labels[CONTAINER_LABELS.applicationId] = config.applicationId;
  if (config.applicationVersion !== undefined)
    labels[CONTAINER_LABELS.applicationVersion] = config.applicationVersion;

  const user = settings.containerUser ?? uidOf(settings.applicationUser);
  const { docker } = config;
  const logDriver = docker.logDriver ?? BOUNDED_CONTAINER_LOGS.driver;
  const logOptions: Record<string, string | Secret> = FILE_LOG_DRIVERS.has(logDriver)
    ? { ...BOUNDED_CONTAINER_LOGS.options }
    : {};
  for (const [option, value] of docker.logOptions) logOptions[option] = resolve(value);
  // As the fork that wished for log_driver did: the stream is the instance, the region its own.
  if (logDriver === 'awslogs' && settings.instance !== undefined) {
    logOptions['awslogs-stream'] ??= settings.instance.instanceId;
    logOptions['awslogs-region'] ??= settings.instance.region;
  }

  return {
    name: settings.containerName,
    image: config.source,
    env,
    // Docker publishes ports only on a bridge network (host: discarded; container: refused).
    ports: config.networking === 'bridge' ? config.ports : [],
    mounts: containerMounts(config, settings),
    user: config.root ? undefined : user,
    // The primary group is the image's (as the original's -u 999); the application group is
    // added so the app still reads what the host gives it that group (/meta/taupage.yaml, 0640).
    groupAdd:
      config.root || user.includes(':') ? undefined : [gidOf(settings.applicationUser)].filter(Boolean),
    // Docker's own restart policy supervises the app, as in the original (on-failure:10).
    restartPolicy: { name: 'on-failure', maximumRetryCount: 10 },
    logConfig: { driver: logDriver, options: logOptions },
    labels,
    privileged: config.privileged,
    readOnlyRootfs: config.readOnly,
    shmSizeBytes: config.shmSize,
    hostname: config.hostname,
    networkMode: config.networking,
    capAdd: config.capabilitiesAdd,
    capDrop: config.capabilitiesDrop,
    stopTimeoutSeconds: docker.stopTimeoutSeconds,
    resources: {
      memoryBytes: docker.memory,
      memoryReservationBytes: docker.memoryReservation,
      nanoCpus: docker.cpus === undefined ? undefined : Math.round(docker.cpus * 1e9),
      cpuShares: docker.cpuShares,
    },
  };
}

function uidOf(applicationUser: string): string {
  return applicationUser.split(':')[0] ?? applicationUser;
}

function gidOf(applicationUser: string): string {
  return applicationUser.split(':')[1] ?? '';
}

/**
 * /meta always; then each `mounts:` entry and the `mount_*` flags. `docker_daemon_access` binds
 * the engine's socket and, read-only, the AMI's Docker CLI at /usr/bin/docker (the original
 * bound the host's dynamically linked binary plus eight host libraries, which broke with every
 * host upgrade; a static CLI needs nothing else).
 */
function containerMounts(config: TaupageConfig, settings: ContainerSpecSettings): BindMount[] {
  const host = settings.hostPaths ?? DEFAULT_HOST_PATHS;
  const mounts: BindMount[] = [{ source: settings.metaDir, target: CONTAINER_PATHS.meta, readOnly: true }];
  for (const mount of config.mounts)
    mounts.push({ source: `${host.mountsRoot}${mount.path}`, target: mount.path, readOnly: false });
  if (config.mountVarLog)
    mounts.push({ source: host.varLog, target: CONTAINER_PATHS.varLog, readOnly: true });
  if (config.mountCustomLog)
    mounts.push({ source: host.customLog, target: CONTAINER_PATHS.customLog, readOnly: false });
  if (config.mountCerts) mounts.push({ source: host.certs, target: CONTAINER_PATHS.certs, readOnly: true });
  if (config.dockerDaemonAccess) {
    mounts.push({ source: host.dockerSocket, target: CONTAINER_PATHS.dockerSocket, readOnly: false });
    if (host.dockerCli !== undefined)
      mounts.push({ source: host.dockerCli, target: CONTAINER_PATHS.dockerCli, readOnly: true });
  }
  return mounts;
}

/** A ContainerSpec as plain JSON data; secrets are [redacted], Docker defaults are null. */
export interface ContainerDescription {
  readonly name: string;
  readonly image: string;
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly ports: readonly { readonly host: number; readonly container: number; readonly protocol: string }[];
  readonly mounts: readonly BindMount[];
  readonly user: string;
  readonly restartPolicy: string;
  readonly logConfig: { readonly driver: string; readonly options: Readonly<Record<string, string>> };
  readonly labels: Readonly<Record<string, string>>;
  readonly networkMode: string;
  readonly hostname: string | null;
  readonly privileged: boolean;
  readonly readOnlyRootfs: boolean;
  readonly shmSizeBytes: number | null;
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  readonly stopTimeoutSeconds: number | null;
  readonly resources: {
    readonly memoryBytes: number | null;
    readonly memoryReservationBytes: number | null;
    readonly cpus: number | null;
    readonly cpuShares: number | null;
  };
}

/** The spec as plain data for `taupage plan` and logs; secrets stay [redacted]. */
export function describeContainerSpec(spec: ContainerSpec): ContainerDescription {
  const text = (value: string | Secret): string => (typeof value === 'string' ? value : REDACTED);
  const resources = spec.resources;
  return {
    name: spec.name,
    image: formatImageReference(spec.image),
    env: spec.env.map(({ name, value }) => ({ name, value: text(value) })),
    ports: spec.ports.map((port) => ({
      host: port.hostPort,
      container: port.containerPort,
      protocol: port.protocol,
    })),
    mounts: spec.mounts,
    user: spec.user ?? 'image default (root: true)',
    restartPolicy: `${spec.restartPolicy.name}:${spec.restartPolicy.maximumRetryCount}`,
    logConfig: {
      driver: spec.logConfig.driver,
      options: Object.fromEntries(
        Object.entries(spec.logConfig.options).map(([option, value]) => [option, text(value)]),
      ),
    },
    labels: spec.labels,
    networkMode: spec.networkMode ?? 'bridge',
    hostname: spec.hostname ?? null,
    privileged: spec.privileged ?? false,
    readOnlyRootfs: spec.readOnlyRootfs ?? false,
    shmSizeBytes: spec.shmSizeBytes ?? null,
    capAdd: spec.capAdd ?? [],
    capDrop: spec.capDrop ?? [],
    stopTimeoutSeconds: spec.stopTimeoutSeconds ?? null,
    resources: {
      memoryBytes: resources?.memoryBytes ?? null,
      memoryReservationBytes: resources?.memoryReservationBytes ?? null,
      cpus: resources?.nanoCpus === undefined ? null : resources.nanoCpus / 1e9,
      cpuShares: resources?.cpuShares ?? null,
    },
  };
}
