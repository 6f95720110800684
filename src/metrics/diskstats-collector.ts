import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostCollector } from './host-collector.js';
import type { MetricFamily, MetricType, Sample } from './metric-family.js';

/** node_exporter's default: partitions and virtual devices are left out. */
export const DISK_DEVICES_EXCLUDE = /^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$/;
/** /proc/diskstats counts sectors of 512 bytes, whatever the device's real sector size. */
const SECTOR_BYTES = 512;
const MS = 0.001;

/** The /proc/diskstats columns after major, minor and name, in order (Linux 4.18+ adds discards, 5.5+ flushes). */
const COLUMNS: readonly { name: string; help: string; type: MetricType; scale: number }[] = [
  {
    name: 'reads_completed_total',
    help: 'The total number of reads completed successfully.',
    type: 'counter',
    scale: 1,
  },
  { name: 'reads_merged_total', help: 'The total number of reads merged.', type: 'counter', scale: 1 },
  {
    name: 'read_bytes_total',
    help: 'The total number of bytes read successfully.',
    type: 'counter',
    scale: SECTOR_BYTES,
  },
  {
    name: 'read_time_seconds_total',
    help: 'The total number of seconds spent by all reads.',
    type: 'counter',
    scale: MS,
  },
  {
    name: 'writes_completed_total',
    help: 'The total number of writes completed successfully.',
    type: 'counter',
    scale: 1,
  },
  { name: 'writes_merged_total', help: 'The number of writes merged.', type: 'counter', scale: 1 },
  {
    name: 'written_bytes_total',
    help: 'The total number of bytes written successfully.',
    type: 'counter',
    scale: SECTOR_BYTES,
  },
  {
    name: 'write_time_seconds_total',
    help: 'This is the total number of seconds spent by all writes.',
    type: 'counter',
    scale: MS,
  },
  { name: 'io_now', help: 'The number of I/Os currently in progress.', type: 'gauge', scale: 1 },
  { name: 'io_time_seconds_total', help: 'Total seconds spent doing I/Os.', type: 'counter', scale: MS },
  {
    name: 'io_time_weighted_seconds_total',
    help: 'The weighted # of seconds spent doing I/Os.',
    type: 'counter',
    scale: MS,
  },
  {
    name: 'discards_completed_total',
    help: 'The total number of discards completed successfully.',
    type: 'counter',
    scale: 1,
  },
  { name: 'discards_merged_total', help: 'The total number of discards merged.', type: 'counter', scale: 1 },
  {
    name: 'discarded_sectors_total',
    help: 'The total number of sectors discarded successfully.',
    type: 'counter',
    scale: 1,
  },
  {
    name: 'discard_time_seconds_total',
    help: 'This is the total number of seconds spent by all discards.',
    type: 'counter',
    scale: MS,
  },
  {
    name: 'flush_requests_total',
    help: 'The total number of flush requests completed successfully',
    type: 'counter',
    scale: 1,
  },
  {
    name: 'flush_requests_time_seconds_total',
    help: 'This is the total number of seconds spent by all flush requests.',
    type: 'counter',
    scale: MS,
  },
];

export interface DiskStats {
  readonly device: string;
  readonly major: string;
  readonly minor: string;
  readonly values: readonly number[];
}

export function parseDiskstats(text: string): DiskStats[] {
  const disks: DiskStats[] = [];
  for (const line of text.split('\n')) {
    const [major, minor, device, ...rest] = line.trim().split(/\s+/);
    if (major === undefined || minor === undefined || device === undefined || rest.length < 11) continue;
    if (DISK_DEVICES_EXCLUDE.test(device)) continue;
    disks.push({ device, major, minor, values: rest.map(Number) });
  }
  return disks;
}

export function diskstatsFamilies(disks: readonly DiskStats[]): MetricFamily[] {
  const families: MetricFamily[] = COLUMNS.map((column, index) => ({
    name: `node_disk_${column.name}`,
    help: column.help,
    type: column.type,
    samples: disks
      .filter((disk) => disk.values[index] !== undefined)
      .map((disk) => ({ labels: { device: disk.device }, value: (disk.values[index] ?? 0) * column.scale })),
  }));
  // node_disk_info's udev labels (path, wwn, …) come from /run/udev/data; we report the
  // same label set with the values we can read without udev, so queries joining on it work.
  const info: Sample[] = disks.map((disk) => ({
    labels: {
      device: disk.device,
      major: disk.major,
      minor: disk.minor,
      model: '',
      path: '',
      revision: '',
      serial: '',
      wwn: '',
    },
    value: 1,
  }));
  families.push({
    name: 'node_disk_info',
    help: 'Info of /sys/block/<block_device>.',
    type: 'gauge',
    samples: info,
  });
  return families.sort((a, b) => (a.name < b.name ? -1 : 1));
}

export function diskstatsCollector(procRoot: string): HostCollector {
  return {
    name: 'diskstats',
    collect: async (signal) =>
      diskstatsFamilies(
        parseDiskstats(await readFile(join(procRoot, 'diskstats'), { encoding: 'utf8', signal })),
      ),
  };
}
