import { TaupageError } from '../../src/core/errors.js';
import { formatImageReference, type ImageReference } from '../../src/config/image-reference.js';
import type {
  ContainerInfo,
  ContainerRuntime,
  ContainerSpec,
  PullOptions,
} from '../../src/docker/container-runtime.js';

/** In-memory ContainerRuntime for unit tests: records calls, can be told to fail. */
export class FakeContainerRuntime implements ContainerRuntime {
  readonly images = new Set<string>();
  readonly containers = new Map<string, ContainerInfo & { spec?: ContainerSpec }>();
  readonly calls: string[] = [];
  /** The `timeoutSeconds` of every stopContainer call, in order. */
  readonly stopTimeouts: number[] = [];
  /** Errors the next pulls throw, in order. */
  pullFailures: TaupageError[] = [];
  /** Errors the next imageExists calls throw, in order (e.g. DOCKER_UNAVAILABLE: dockerd not up yet). */
  imageExistsFailures: TaupageError[] = [];
  /** Errors the next startContainer calls throw, in order (e.g. DOCKER_SERVER_ERROR: an engine 5xx). */
  startFailures: TaupageError[] = [];
  /** Images the "registry" has. */
  readonly registry = new Set<string>();
  #nextId = 1;

  imageExists(image: ImageReference): Promise<boolean> {
    this.calls.push(`imageExists ${formatImageReference(image)}`);
    const failure = this.imageExistsFailures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    return Promise.resolve(this.images.has(formatImageReference(image)));
  }

  pullImage(image: ImageReference, options: PullOptions): Promise<void> {
    const reference = formatImageReference(image);
    this.calls.push(`pull ${reference}${options.auth ? ` as ${options.auth.username}` : ''}`);
    const failure = this.pullFailures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    if (!this.registry.has(reference))
      return Promise.reject(new TaupageError('IMAGE_NOT_FOUND', `Image ${reference} not found`));
    this.images.add(reference);
    return Promise.resolve();
  }

  findContainer(name: string): Promise<ContainerInfo | undefined> {
    this.calls.push(`find ${name}`);
    return Promise.resolve([...this.containers.values()].find((container) => container.name === name));
  }

  createContainer(spec: ContainerSpec): Promise<ContainerInfo> {
    this.calls.push(`create ${spec.name}`);
    const id = `${String(this.#nextId++).padStart(12, '0')}ffff`;
    const info = {
      id,
      name: spec.name,
      state: 'created' as const,
      exitCode: undefined,
      restartCount: 0,
      oomKilled: false,
      startedAt: undefined,
      finishedAt: undefined,
      health: undefined,
      labels: spec.labels,
      imageId: formatImageReference(spec.image),
      spec,
    };
    this.containers.set(id, info);
    return Promise.resolve(info);
  }

  startContainer(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    const failure = this.startFailures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    const container = this.containers.get(id);
    if (container === undefined)
      return Promise.reject(new TaupageError('CONTAINER_FAILED', 'no such container'));
    this.containers.set(id, { ...container, state: 'running', startedAt: new Date().toISOString() });
    return Promise.resolve();
  }

  inspectContainer(id: string): Promise<ContainerInfo | undefined> {
    return Promise.resolve(this.containers.get(id));
  }

  stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    this.calls.push(`stop ${id}`);
    this.stopTimeouts.push(timeoutSeconds);
    const container = this.containers.get(id);
    if (container !== undefined) this.containers.set(id, { ...container, state: 'exited', exitCode: 0 });
    return Promise.resolve();
  }

  removeContainer(id: string): Promise<void> {
    this.calls.push(`remove ${id}`);
    this.containers.delete(id);
    return Promise.resolve();
  }
}
