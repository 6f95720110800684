import Docker from 'dockerode';
import { firstLine, TaupageError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import { formatImageReference, type ImageReference } from '../config/image-reference.js';
import type {
  ContainerInfo,
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  PullOptions,
} from './container-runtime.js';

/** Deadline for the short Docker API calls (inspect, create, start); pulls have their own. */
const API_TIMEOUT_MS = 30_000;

export interface DockerodeContainerRuntimeOptions {
  /** The short calls' deadline (default 30 s); tests shorten it. */
  apiTimeoutMs?: number;
}

interface DockerApiError extends Error {
  statusCode?: number;
  json?: { message?: string } | null;
  code?: string;
}

/** Adapter: the Docker Engine API through dockerode (DOCKER_HOST, or the default socket). */
export class DockerodeContainerRuntime implements ContainerRuntime {
  readonly #docker: Docker;
  /** Pulls in flight by reference: a second caller waits for the first pull instead of racing it. */
  readonly #pulls = new Map<string, Promise<void>>();

  readonly #apiTimeoutMs: number;

  constructor(docker: Docker = new Docker(), options: DockerodeContainerRuntimeOptions = {}) {
    this.#docker = docker;
    this.#apiTimeoutMs = options.apiTimeoutMs ?? API_TIMEOUT_MS;
  }

  /** The caller's signal plus the API deadline (and `extraMs` for calls that wait by design). */
  #deadline(signal: AbortSignal, extraMs = 0): AbortSignal {
    return AbortSignal.any([signal, AbortSignal.timeout(this.#apiTimeoutMs + extraMs)]);
  }

  async imageExists(image: ImageReference, signal: AbortSignal): Promise<boolean> {
    try {
      // Image inspect takes no abort signal in dockerode; bound it from outside.
      await untilAborted(
        this.#docker.getImage(formatImageReference(image)).inspect(),
        this.#deadline(signal),
      );
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw apiError(error, 'inspect image', signal);
    }
  }

  pullImage(image: ImageReference, options: PullOptions): Promise<void> {
    const reference = formatImageReference(image);
    const running = this.#pulls.get(reference);
    if (running !== undefined) return running;
    const pull = this.#pull(image, reference, options).finally(() => this.#pulls.delete(reference));
    this.#pulls.set(reference, pull);
    return pull;
  }

  async #pull(image: ImageReference, reference: string, options: PullOptions): Promise<void> {
    const watchdog = new AbortController();
    const deadline = AbortSignal.timeout(options.deadlineMs);
    const signal = AbortSignal.any([options.signal, watchdog.signal, deadline]);
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        watchdog.abort();
      }, options.inactivityTimeoutMs);
    };
    arm();
    try {
      const auth =
        options.auth === undefined
          ? undefined
          : {
              username: options.auth.username,
              password: options.auth.password.reveal(),
              serveraddress: options.auth.serverAddress,
            };
      const stream = await this.#docker.createImage(auth, {
        fromImage: `${image.registry}/${image.repository}`,
        tag: image.digest ?? image.tag,
        abortSignal: signal,
      });
      arm();
      await new Promise<void>((resolve, reject) => {
        const layers = new Map<string, number>();
        this.#docker.modem.followProgress(
          stream,
          (error: Error | null) => {
            if (error) reject(error);
            else resolve();
          },
          (event: PullEvent) => {
            arm();
            if (event.error !== undefined) return; // reported by the final callback
            if (event.id !== undefined && event.progressDetail?.current !== undefined) {
              layers.set(event.id, event.progressDetail.current);
            }
            const downloadedBytes = [...layers.values()].reduce((sum, value) => sum + value, 0);
            options.onProgress?.({ status: event.status ?? '', downloadedBytes });
          },
        );
        signal.addEventListener('abort', () => {
          (stream as unknown as { destroy?: (error?: Error) => void }).destroy?.(new Error('aborted'));
        });
      });
    } catch (error) {
      if (deadline.aborted && !options.signal.aborted) {
        throw new TaupageError(
          'IMAGE_PULL_STALLED',
          `Pull of ${reference} did not finish within ${Math.round(options.deadlineMs / 1000)} s`,
          { cause: error },
        );
      }
      if (watchdog.signal.aborted && !options.signal.aborted) {
        throw new TaupageError(
          'IMAGE_PULL_STALLED',
          `Pull of ${reference} made no progress for ${Math.round(options.inactivityTimeoutMs / 1000)} s`,
          { cause: error },
        );
      }
      throw pullError(error, reference);
    } finally {
      clearTimeout(timer);
    }
  }

  async findContainer(name: string, signal: AbortSignal): Promise<ContainerInfo | undefined> {
    let list;
    try {
      list = await this.#docker.listContainers({
        all: true,
        filters: { name: [`^/${name}$`] },
        abortSignal: this.#deadline(signal),
      });
    } catch (error) {
      throw apiError(error, 'list containers', signal);
    }
    const found = list[0];
    return found === undefined ? undefined : this.inspectContainer(found.Id, signal);
  }

  async createContainer(spec: ContainerSpec, signal: AbortSignal): Promise<ContainerInfo> {
    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostPort: string }[]> = {};
    for (const port of spec.ports) {
      const key = `${port.containerPort}/${port.protocol}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostPort: String(port.hostPort) });
    }
    const reveal = (value: string | Secret): string => (typeof value === 'string' ? value : value.reveal());
    const resources = spec.resources;
    let created;
    try {
      created = await this.#docker.createContainer({
        name: spec.name,
        Image: formatImageReference(spec.image),
        Env: spec.env.map(({ name, value }) => `${name}=${reveal(value)}`),
        ...(spec.user === undefined ? {} : { User: spec.user }),
        ...(spec.hostname === undefined ? {} : { Hostname: spec.hostname }),
        // Docker itself then honours it on `docker stop` and when the daemon shuts down.
        ...(spec.stopTimeoutSeconds === undefined ? {} : { StopTimeout: spec.stopTimeoutSeconds }),
        Labels: { ...spec.labels },
        ExposedPorts: exposed,
        HostConfig: {
          PortBindings: bindings,
          ...(spec.groupAdd === undefined || spec.groupAdd.length === 0
            ? {}
            : { GroupAdd: [...spec.groupAdd] }),
          Binds: spec.mounts.map((mount) => `${mount.source}:${mount.target}${mount.readOnly ? ':ro' : ''}`),
          LogConfig: {
            Type: spec.logConfig.driver,
            Config: Object.fromEntries(
              Object.entries(spec.logConfig.options).map(([option, value]) => [option, reveal(value)]),
            ),
          },
          RestartPolicy: {
            Name: spec.restartPolicy.name,
            MaximumRetryCount: spec.restartPolicy.maximumRetryCount,
          },
          NetworkMode: spec.networkMode ?? 'bridge',
          Privileged: spec.privileged ?? false,
          ReadonlyRootfs: spec.readOnlyRootfs ?? false,
          CapAdd: [...(spec.capAdd ?? [])],
          CapDrop: [...(spec.capDrop ?? [])],
          ...(spec.shmSizeBytes === undefined ? {} : { ShmSize: spec.shmSizeBytes }),
          ...(resources?.memoryBytes === undefined ? {} : { Memory: resources.memoryBytes }),
          ...(resources?.memoryReservationBytes === undefined
            ? {}
            : { MemoryReservation: resources.memoryReservationBytes }),
          ...(resources?.nanoCpus === undefined ? {} : { NanoCpus: resources.nanoCpus }),
          ...(resources?.cpuShares === undefined ? {} : { CpuShares: resources.cpuShares }),
        },
        abortSignal: this.#deadline(signal),
      });
    } catch (error) {
      // Docker's message can quote the request; it never includes env values, and the
      // logger's redactor is the second line of defence.
      throw apiError(error, 'create the container', signal, 'CONTAINER_FAILED');
    }
    const info = await this.inspectContainer(created.id, signal);
    if (info === undefined)
      throw new TaupageError('CONTAINER_FAILED', 'The container vanished right after it was created');
    return info;
  }

  async startContainer(id: string, signal: AbortSignal): Promise<void> {
    try {
      await this.#docker.getContainer(id).start({ abortSignal: this.#deadline(signal) });
    } catch (error) {
      if (statusOf(error) === 304) return; // already running
      throw apiError(error, 'start the container', signal, 'CONTAINER_FAILED');
    }
  }

  async inspectContainer(id: string, signal: AbortSignal): Promise<ContainerInfo | undefined> {
    let data: Docker.ContainerInspectInfo;
    try {
      data = await this.#docker.getContainer(id).inspect({ abortSignal: this.#deadline(signal) });
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw apiError(error, 'inspect the container', signal);
    }
    const state = data.State;
    return {
      id: data.Id,
      name: data.Name.replace(/^\//, ''),
      state: state.Status as ContainerState,
      exitCode: state.Running ? undefined : state.ExitCode,
      restartCount: data.RestartCount,
      oomKilled: state.OOMKilled,
      startedAt: zeroTimeToUndefined(state.StartedAt),
      finishedAt: zeroTimeToUndefined(state.FinishedAt),
      health: state.Health?.Status as ContainerInfo['health'],
      labels: data.Config.Labels,
      imageId: data.Image,
    };
  }

  async stopContainer(id: string, timeoutSeconds: number, signal: AbortSignal): Promise<void> {
    try {
      await this.#docker
        .getContainer(id)
        .stop({ t: timeoutSeconds, abortSignal: this.#deadline(signal, timeoutSeconds * 1000) });
    } catch (error) {
      const status = statusOf(error);
      if (status === 304 || status === 404) return;
      throw apiError(error, 'stop the container', signal, 'CONTAINER_FAILED');
    }
  }

  async removeContainer(id: string, signal: AbortSignal): Promise<void> {
    try {
      await this.#docker.getContainer(id).remove({ force: true, abortSignal: this.#deadline(signal) });
    } catch (error) {
      if (statusOf(error) === 404) return;
      throw apiError(error, 'remove the container', signal, 'CONTAINER_FAILED');
    }
  }
}

interface PullEvent {
  status?: string;
  id?: string;
  error?: string;
  progressDetail?: { current?: number; total?: number };
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason as Error);
    };
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => {
      signal.removeEventListener('abort', onAbort);
    });
  });
}

function statusOf(error: unknown): number | undefined {
  return (error as DockerApiError | undefined)?.statusCode;
}

function dockerMessage(error: unknown): string {
  const apiMessage = (error as DockerApiError | undefined)?.json?.message;
  return firstLine(apiMessage ?? (error instanceof Error ? error.message : String(error)));
}

function isConnectionError(error: unknown): boolean {
  const code = (error as DockerApiError | undefined)?.code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'ENOENT' ||
    code === 'EACCES' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE'
  );
}

/**
 * A failed short call. The caller's own abort (shutdown) is passed on as it is; an abort the caller
 * did not ask for is the API deadline (node:http reports it as an AbortError, not the signal's
 * TimeoutError): the engine did not answer in time, which is transient, never CONTAINER_FAILED.
 * An engine error (5xx) on a container call is DOCKER_SERVER_ERROR, retriable too.
 */
function apiError(
  error: unknown,
  action: string,
  signal: AbortSignal,
  fallback: 'DOCKER_UNAVAILABLE' | 'CONTAINER_FAILED' = 'DOCKER_UNAVAILABLE',
): Error {
  if (signal.aborted)
    return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
  const aborted = error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError');
  if (isConnectionError(error) || aborted) {
    return new TaupageError('DOCKER_UNAVAILABLE', `Docker engine did not answer when asked to ${action}`, {
      cause: error,
    });
  }
  // A 5xx is the engine failing (a port still held by a container being removed, a storage driver
  // hiccup), not it refusing the container (4xx): worth another try.
  const status = statusOf(error);
  const code =
    fallback === 'CONTAINER_FAILED' && status !== undefined && status >= 500
      ? 'DOCKER_SERVER_ERROR'
      : fallback;
  return new TaupageError(code, `Docker could not ${action}: ${dockerMessage(error)}`, { cause: error });
}

/**
 * Pull failures. Docker reports registry answers as HTTP statuses on /images/create (404 for a
 * missing repository or tag, 401/403 for rejected credentials); for errors that surface later
 * in the progress stream only the message text is available, so that is matched there.
 */
function pullError(error: unknown, reference: string): TaupageError {
  if (isConnectionError(error)) {
    return new TaupageError('DOCKER_UNAVAILABLE', `Docker engine did not answer while pulling ${reference}`, {
      cause: error,
    });
  }
  const status = statusOf(error);
  const message = dockerMessage(error);
  if (status === 404 || /manifest unknown|not found/i.test(message)) {
    return new TaupageError('IMAGE_NOT_FOUND', `Image ${reference} not found in its registry`, {
      cause: error,
    });
  }
  if (
    status === 401 ||
    status === 403 ||
    /unauthorized|authentication required|no basic auth credentials|denied/i.test(message)
  ) {
    return new TaupageError('REGISTRY_AUTH_FAILED', `Registry refused to serve ${reference}: ${message}`, {
      cause: error,
    });
  }
  return new TaupageError('IMAGE_PULL_FAILED', `Pulling ${reference} failed: ${message}`, { cause: error });
}

function zeroTimeToUndefined(time: string | undefined): string | undefined {
  return time === undefined || time.startsWith('0001-') ? undefined : time;
}
