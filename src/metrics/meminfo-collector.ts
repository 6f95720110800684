import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostCollector } from './host-collector.js';
import { gauge, single, type MetricFamily } from './metric-family.js';

/**
 * Parses /proc/meminfo into node_exporter's keys: "Active(anon): 12 kB" → Active_anon_bytes =
 * 12288; fields without a unit (HugePages_Total) keep their name and value.
 */
export function parseMeminfo(text: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([^:]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
    if (match === null) continue;
    const key = (match[1] ?? '').replace('(', '_').replace(')', '');
    const value = Number(match[2]);
    if (match[3] === 'kB') fields.set(`${key}_bytes`, value * 1024);
    else fields.set(key, value);
  }
  return fields;
}

export function meminfoFamilies(fields: ReadonlyMap<string, number>): MetricFamily[] {
  return [...fields].map(([key, value]) =>
    gauge(`node_memory_${key}`, `Memory information field ${key}.`, single(value)),
  );
}

export async function readMeminfo(procRoot: string, signal?: AbortSignal): Promise<Map<string, number>> {
  return parseMeminfo(await readFile(join(procRoot, 'meminfo'), { encoding: 'utf8', signal }));
}

export function meminfoCollector(procRoot: string): HostCollector {
  return { name: 'meminfo', collect: async (signal) => meminfoFamilies(await readMeminfo(procRoot, signal)) };
}
