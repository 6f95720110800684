import type { MetricFamily } from './metric-family.js';

/**
 * One node_exporter-compatible collector (cpu, meminfo, filesystem, …). It reads the host's
 * /proc (under `procRoot`, like node_exporter's --path.procfs) on every scrape: no caching, so
 * a scrape shows the host as it is.
 */
export interface HostCollector {
  /** node_exporter's collector name, used in node_scrape_collector_success{collector}. */
  readonly name: string;
  collect(signal: AbortSignal): Promise<MetricFamily[]>;
}
