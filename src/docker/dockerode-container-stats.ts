import Docker from 'dockerode';
import { firstLine, TaupageError } from '../core/errors.js';
import type { ContainerStats, ContainerStatsSample, ImageDetails } from './container-stats.js';

/** A scrape waits for at most this long; stats are refreshed in the background anyway. */
const STATS_TIMEOUT_MS = 5_000;

interface DockerStats {
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<
    string,
    { rx_bytes?: number; tx_bytes?: number; rx_packets?: number; tx_packets?: number }
  >;
}

/** Adapter: the Docker stats and image inspect APIs through dockerode. */
export class DockerodeContainerStats implements ContainerStats {
  readonly #docker: Docker;
  readonly #hostMemoryBytes: number;

  constructor(docker: Docker = new Docker(), hostMemoryBytes = 0) {
    this.#docker = docker;
    this.#hostMemoryBytes = hostMemoryBytes;
  }

  async stats(containerId: string, signal: AbortSignal): Promise<ContainerStatsSample | undefined> {
    let raw: DockerStats;
    try {
      // one-shot: answer at once instead of waiting ~1 s for a second sample (API 1.41+);
      // we compute rates in Prometheus, not here.
      // dockerode's types omit abortSignal here, but its stats() passes it to the request.
      const options = {
        stream: false,
        'one-shot': true,
        abortSignal: AbortSignal.any([signal, AbortSignal.timeout(STATS_TIMEOUT_MS)]),
      } as { stream: false; 'one-shot': boolean };
      raw = await this.#docker.getContainer(containerId).stats(options);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw unavailable(error, 'read container stats');
    }
    const memory = raw.memory_stats ?? {};
    const usage = memory.usage ?? 0;
    // cgroup v2 reports inactive_file, v1 total_inactive_file.
    const inactive = memory.stats?.inactive_file ?? memory.stats?.total_inactive_file ?? 0;
    const limit = memory.limit;
    return {
      cpuSeconds: (raw.cpu_stats?.cpu_usage?.total_usage ?? 0) / 1e9,
      memoryUsageBytes: usage,
      memoryWorkingSetBytes: Math.max(0, usage - inactive),
      // Without a limit Docker reports the host's memory (or 2^63 on some kernels).
      memoryLimitBytes:
        limit === undefined || limit === 0 || limit >= 2 ** 62 || limit === this.#hostMemoryBytes
          ? undefined
          : limit,
      networks: Object.entries(raw.networks ?? {}).map(([name, network]) => ({
        interface: name,
        receiveBytes: network.rx_bytes ?? 0,
        transmitBytes: network.tx_bytes ?? 0,
        receivePackets: network.rx_packets ?? 0,
        transmitPackets: network.tx_packets ?? 0,
      })),
    };
  }

  async image(imageId: string, signal: AbortSignal): Promise<ImageDetails | undefined> {
    try {
      const inspect = await this.#docker
        .getImage(imageId)
        .inspect({ abortSignal: AbortSignal.any([signal, AbortSignal.timeout(STATS_TIMEOUT_MS)]) } as object);
      return { id: inspect.Id, repoDigests: inspect.RepoDigests };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw unavailable(error, 'inspect image');
    }
  }
}

function unavailable(error: unknown, what: string): TaupageError {
  const message = error instanceof Error ? firstLine(error.message) : String(error);
  return new TaupageError('DOCKER_UNAVAILABLE', `Docker: cannot ${what}: ${message}`, { cause: error });
}
