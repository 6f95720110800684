/** One sample of a container's resource usage, from the Docker stats API, in our units. */
export interface ContainerStatsSample {
  /** Total CPU time used by the container since it started. */
  readonly cpuSeconds: number;
  readonly memoryUsageBytes: number;
  /** usage minus inactive file cache: what the kernel OOM killer looks at. */
  readonly memoryWorkingSetBytes: number;
  /** undefined: no limit (Docker reports the host's memory then). */
  readonly memoryLimitBytes: number | undefined;
  readonly networks: readonly {
    readonly interface: string;
    readonly receiveBytes: number;
    readonly transmitBytes: number;
    readonly receivePackets: number;
    readonly transmitPackets: number;
  }[];
}

export interface ImageDetails {
  readonly id: string;
  /** `registry/repo@sha256:…`, one per registry the image was pulled from (empty for a local build). */
  readonly repoDigests: readonly string[];
}

/**
 * Port: what the operator surface reads from the engine besides the lifecycle verbs of
 * ContainerRuntime (kept separate so that port stays small). Both return undefined for a
 * container or image that is gone, and throw TaupageError DOCKER_UNAVAILABLE otherwise.
 */
export interface ContainerStats {
  stats(containerId: string, signal: AbortSignal): Promise<ContainerStatsSample | undefined>;
  image(imageId: string, signal: AbortSignal): Promise<ImageDetails | undefined>;
}
