import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { ContainerStats, ContainerStatsSample } from '../docker/container-stats.js';
import type { AgentState } from '../status/agent-state.js';
import { counter, gauge, type MetricFamily, type Sample } from './metric-family.js';

/**
 * Stats older than this are refreshed. A scrape never waits for Docker: it renders the last
 * sample and starts a refresh in the background, so a slow engine cannot slow the scrape.
 */
const STATS_MAX_AGE_MS = 5_000;

export interface ContainerMetricsOptions {
  readonly state: AgentState;
  /** The stats adapter loads with dockerode, after the listeners are up: undefined until then. */
  readonly stats: () => ContainerStats | undefined;
  readonly clock: Clock;
  readonly log: Logger;
}

/** `taupage_container_*`: the app container's CPU, memory, network (Docker stats API) and restarts. */
export class ContainerMetrics {
  readonly #options: ContainerMetricsOptions;
  #sample: { containerId: string; at: number; stats: ContainerStatsSample } | undefined;
  #refreshing: Promise<void> | undefined;
  #lastAttempt = 0;

  constructor(options: ContainerMetricsOptions) {
    this.#options = options;
  }

  /** Fetches a fresh sample now (tests, and the first scrape after the boot). */
  async refresh(): Promise<void> {
    const container = this.#options.state.container;
    const stats = this.#options.stats();
    if (container === undefined || stats === undefined) return;
    this.#lastAttempt = this.#options.clock.now();
    try {
      const sample = await stats.stats(container.id, AbortSignal.timeout(STATS_MAX_AGE_MS));
      this.#sample =
        sample === undefined
          ? undefined
          : { containerId: container.id, at: this.#options.clock.now(), stats: sample };
    } catch (error) {
      this.#options.log.debug({ err: error }, 'Cannot read container stats');
    }
  }

  families(): MetricFamily[] {
    const container = this.#options.state.container;
    if (container === undefined) return [];
    if (this.#options.clock.now() - this.#lastAttempt > STATS_MAX_AGE_MS && this.#refreshing === undefined) {
      this.#refreshing = this.refresh().finally(() => {
        this.#refreshing = undefined;
      });
    }
    const labels = { name: container.name };
    const families: MetricFamily[] = [
      gauge('taupage_container_running', '1 when the application container is running.', [
        { labels, value: container.state === 'running' ? 1 : 0 },
      ]),
      counter('taupage_container_restarts_total', "Docker's restart count of the application container.", [
        { labels, value: container.restartCount },
      ]),
      gauge('taupage_container_oom_killed', '1 when the last exit of the container was an OOM kill.', [
        { labels, value: container.oomKilled ? 1 : 0 },
      ]),
    ];
    if (container.exitCode !== undefined) {
      families.push(
        gauge('taupage_container_last_exit_code', 'Exit code of the last run of the container.', [
          { labels, value: container.exitCode },
        ]),
      );
    }
    const sample = this.#sample?.containerId === container.id ? this.#sample.stats : undefined;
    if (sample === undefined) return families;
    families.push(
      counter('taupage_container_cpu_seconds_total', 'CPU time the container used, all CPUs.', [
        { labels, value: sample.cpuSeconds },
      ]),
      gauge('taupage_container_memory_usage_bytes', 'Memory the container uses, page cache included.', [
        { labels, value: sample.memoryUsageBytes },
      ]),
      gauge(
        'taupage_container_memory_working_set_bytes',
        'Memory usage minus inactive page cache (what the OOM killer sees).',
        [{ labels, value: sample.memoryWorkingSetBytes }],
      ),
    );
    if (sample.memoryLimitBytes !== undefined) {
      families.push(
        gauge('taupage_container_memory_limit_bytes', 'Memory limit of the container.', [
          { labels, value: sample.memoryLimitBytes },
        ]),
      );
    }
    const network = (pick: (n: ContainerStatsSample['networks'][number]) => number): Sample[] =>
      sample.networks.map((n) => ({ labels: { ...labels, interface: n.interface }, value: pick(n) }));
    families.push(
      counter(
        'taupage_container_network_receive_bytes_total',
        'Bytes the container received.',
        network((n) => n.receiveBytes),
      ),
      counter(
        'taupage_container_network_receive_packets_total',
        'Packets the container received.',
        network((n) => n.receivePackets),
      ),
      counter(
        'taupage_container_network_transmit_bytes_total',
        'Bytes the container sent.',
        network((n) => n.transmitBytes),
      ),
      counter(
        'taupage_container_network_transmit_packets_total',
        'Packets the container sent.',
        network((n) => n.transmitPackets),
      ),
    );
    return families;
  }
}
