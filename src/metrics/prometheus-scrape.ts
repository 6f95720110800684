import type { AgentMetrics } from './agent-metrics.js';
import type { ContainerMetrics } from './container-metrics.js';
import { diskstatsCollector } from './diskstats-collector.js';
import { filesystemCollector } from './filesystem-collector.js';
import type { HostCollector } from './host-collector.js';
import { meminfoCollector } from './meminfo-collector.js';
import { gauge, renderFamilies, type MetricFamily, type Sample } from './metric-family.js';
import { netdevCollector } from './netdev-collector.js';
import { cpuCollector, loadavgCollector, statCollector, timeCollector } from './proc-stat-collectors.js';
import { readTextfiles } from './textfile-collector.js';

/** A collector that takes longer than this fails alone (node_scrape_collector_success 0). */
const COLLECTOR_TIMEOUT_MS = 5_000;

/** The node_exporter collectors we implement, reading /proc under `procRoot`. */
export function hostCollectors(procRoot: string, now: () => number): HostCollector[] {
  return [
    cpuCollector(procRoot),
    diskstatsCollector(procRoot),
    filesystemCollector(procRoot),
    loadavgCollector(procRoot),
    meminfoCollector(procRoot),
    netdevCollector(procRoot),
    statCollector(procRoot),
    timeCollector(now),
  ];
}

export interface PrometheusScrapeOptions {
  readonly collectors: readonly HostCollector[];
  /** node_exporter's --collector.textfile.directory; undefined: off. */
  readonly textfileDir: string | undefined;
  readonly container: ContainerMetrics | undefined;
  readonly agent: AgentMetrics;
}

/**
 * One scrape of GET /metrics: node_exporter's host families, the textfile directory, the app
 * container and the agent, as one exposition. Each collector fails on its own, as in
 * node_exporter (node_scrape_collector_success), never the whole scrape.
 */
export class PrometheusScrape {
  readonly #options: PrometheusScrapeOptions;

  constructor(options: PrometheusScrapeOptions) {
    this.#options = options;
  }

  async render(): Promise<string> {
    const { collectors, agent, container } = this.#options;
    const durations: Sample[] = [];
    const successes: Sample[] = [];
    // One deadline for the whole scrape, cleared as soon as it is done: AbortSignal.timeout()
    // per collector would keep eight timers and signals alive for 5 s after every scrape, which
    // at a few hundred scrapes a second pushes them into the old generation (RSS growth).
    const deadline = new AbortController();
    const timer = setTimeout(() => {
      deadline.abort(new Error('collector timed out'));
    }, COLLECTOR_TIMEOUT_MS);
    const results = await Promise.all(
      collectors.map(async (collector) => {
        const started = performance.now();
        let families: MetricFamily[] = [];
        let ok = 1;
        try {
          families = await collector.collect(deadline.signal);
        } catch {
          ok = 0;
        }
        const labels = { collector: collector.name };
        durations.push({ labels, value: (performance.now() - started) / 1000 });
        successes.push({ labels, value: ok });
        return families;
      }),
    ).finally(() => {
      clearTimeout(timer);
    });
    const host = results.flat();
    const containerFamilies = container?.families() ?? [];
    const reserved = new Set([...host, ...containerFamilies].map((family) => family.name));
    for (const name of agent.names()) reserved.add(name);
    reserved.add('node_scrape_collector_duration_seconds');
    reserved.add('node_scrape_collector_success');
    const textfiles = await readTextfiles(this.#options.textfileDir, reserved);
    const byCollector = (a: Sample, b: Sample): number =>
      (a.labels.collector ?? '') < (b.labels.collector ?? '') ? -1 : 1;
    const own = [
      ...host,
      ...textfiles.families,
      gauge(
        'node_scrape_collector_duration_seconds',
        'node_exporter: Duration of a collector scrape.',
        durations.sort(byCollector),
      ),
      gauge(
        'node_scrape_collector_success',
        'node_exporter: Whether a collector succeeded.',
        successes.sort(byCollector),
      ),
    ];
    own.sort((a, b) => (a.name < b.name ? -1 : 1));
    return (
      renderFamilies(own) +
      textfiles.text +
      renderFamilies(containerFamilies) +
      (await agent.registry.metrics())
    );
  }
}
