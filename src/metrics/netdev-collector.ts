import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostCollector } from './host-collector.js';
import { counter, type MetricFamily, type Sample } from './metric-family.js';

/** node_exporter's default --collector.netdev.device-exclude. */
export const NET_DEVICES_EXCLUDE = /^lo$/;

export interface NetDevice {
  readonly device: string;
  readonly stats: ReadonlyMap<string, number>;
}

/**
 * Parses /proc/net/dev. The column names come from its two header lines, prefixed receive_ /
 * transmit_ — exactly node_exporter's statistic names (receive_bytes, transmit_colls, …).
 */
export function parseNetDev(text: string): NetDevice[] {
  const lines = text.split('\n');
  const header = lines[1]?.split('|') ?? [];
  const receive = (header[1] ?? '').trim().split(/\s+/);
  const transmit = (header[2] ?? '').trim().split(/\s+/);
  const columns = [
    ...receive.map((name) => `receive_${name}`),
    ...transmit.map((name) => `transmit_${name}`),
  ];
  const devices: NetDevice[] = [];
  for (const line of lines.slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const device = line.slice(0, colon).trim();
    if (NET_DEVICES_EXCLUDE.test(device)) continue;
    const values = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    devices.push({ device, stats: new Map(columns.map((column, index) => [column, values[index] ?? 0])) });
  }
  return devices;
}

export function netdevFamilies(devices: readonly NetDevice[]): MetricFamily[] {
  const byStat = new Map<string, Sample[]>();
  for (const { device, stats } of devices) {
    for (const [stat, value] of stats) {
      let samples = byStat.get(stat);
      if (samples === undefined) byStat.set(stat, (samples = []));
      samples.push({ labels: { device }, value });
    }
  }
  return [...byStat]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([stat, samples]) =>
      counter(`node_network_${stat}_total`, `Network device statistic ${stat}.`, samples),
    );
}

export function netdevCollector(procRoot: string): HostCollector {
  return {
    name: 'netdev',
    collect: async (signal) =>
      netdevFamilies(parseNetDev(await readFile(join(procRoot, 'net', 'dev'), { encoding: 'utf8', signal }))),
  };
}
