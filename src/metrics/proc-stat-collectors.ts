import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostCollector } from './host-collector.js';
import { counter, gauge, single, type MetricFamily, type Sample } from './metric-family.js';

/** /proc/stat counts CPU time in USER_HZ ticks, 100 per second on every Linux node_exporter supports. */
const USER_HZ = 100;
const CPU_MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

export interface ProcStat {
  readonly cpus: readonly { readonly cpu: string; readonly ticks: readonly number[] }[];
  readonly fields: ReadonlyMap<string, number>;
}

/** Parses /proc/stat: the per-CPU lines ("cpu0 …", not the "cpu" total) and the first number of each other line. */
export function parseProcStat(text: string): ProcStat {
  const cpus: { cpu: string; ticks: number[] }[] = [];
  const fields = new Map<string, number>();
  for (const line of text.split('\n')) {
    const parts = line.trim().split(/\s+/);
    const key = parts[0];
    if (key === undefined || key === '' || parts.length < 2) continue;
    if (/^cpu\d+$/.test(key)) cpus.push({ cpu: key.slice(3), ticks: parts.slice(1).map(Number) });
    else if (key !== 'cpu') fields.set(key, Number(parts[1]));
  }
  return { cpus, fields };
}

/** node_exporter's `cpu` collector: node_cpu_seconds_total{cpu,mode}, node_cpu_guest_seconds_total{cpu,mode}. */
export function cpuFamilies(stat: ProcStat): MetricFamily[] {
  const seconds: Sample[] = [];
  const guest: Sample[] = [];
  for (const { cpu, ticks } of stat.cpus) {
    CPU_MODES.forEach((mode, index) => {
      seconds.push({ labels: { cpu, mode }, value: (ticks[index] ?? 0) / USER_HZ });
    });
    guest.push({ labels: { cpu, mode: 'user' }, value: (ticks[8] ?? 0) / USER_HZ });
    guest.push({ labels: { cpu, mode: 'nice' }, value: (ticks[9] ?? 0) / USER_HZ });
  }
  return [
    counter('node_cpu_guest_seconds_total', 'Seconds the CPUs spent in guests (VMs) for each mode.', guest),
    counter('node_cpu_seconds_total', 'Seconds the CPUs spent in each mode.', seconds),
  ];
}

/** node_exporter's `stat` collector: boot time (uptime = node_time_seconds − this), forks, … */
export function statFamilies(stat: ProcStat): MetricFamily[] {
  const field = (name: string): number => stat.fields.get(name) ?? 0;
  return [
    gauge('node_boot_time_seconds', 'Node boot time, in unixtime.', single(field('btime'))),
    counter('node_context_switches_total', 'Total number of context switches.', single(field('ctxt'))),
    counter('node_forks_total', 'Total number of forks.', single(field('processes'))),
    counter('node_intr_total', 'Total number of interrupts serviced.', single(field('intr'))),
    gauge(
      'node_procs_blocked',
      'Number of processes blocked waiting for I/O to complete.',
      single(field('procs_blocked')),
    ),
    gauge('node_procs_running', 'Number of processes in runnable state.', single(field('procs_running'))),
  ];
}

export function cpuCollector(procRoot: string): HostCollector {
  return {
    name: 'cpu',
    collect: async (signal) =>
      cpuFamilies(parseProcStat(await readFile(join(procRoot, 'stat'), { encoding: 'utf8', signal }))),
  };
}

export function statCollector(procRoot: string): HostCollector {
  return {
    name: 'stat',
    collect: async (signal) =>
      statFamilies(parseProcStat(await readFile(join(procRoot, 'stat'), { encoding: 'utf8', signal }))),
  };
}

/** node_exporter's `time` collector (the node_time_seconds part). */
export function timeCollector(now: () => number): HostCollector {
  return {
    name: 'time',
    collect: () =>
      Promise.resolve([
        gauge('node_time_seconds', 'System time in seconds since epoch (1970).', single(now() / 1000)),
      ]),
  };
}

/** node_exporter's `loadavg` collector. */
export function loadavgCollector(procRoot: string): HostCollector {
  return {
    name: 'loadavg',
    collect: async (signal) => {
      const [one = 0, five = 0, fifteen = 0] = (
        await readFile(join(procRoot, 'loadavg'), { encoding: 'utf8', signal })
      )
        .trim()
        .split(/\s+/)
        .map(Number);
      return [
        gauge('node_load1', '1m load average.', single(one)),
        gauge('node_load15', '15m load average.', single(fifteen)),
        gauge('node_load5', '5m load average.', single(five)),
      ];
    },
  };
}
