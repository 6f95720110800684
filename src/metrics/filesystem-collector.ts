import { readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostCollector } from './host-collector.js';
import { gauge, type MetricFamily, type Sample } from './metric-family.js';

// Debian's prometheus-node-exporter defaults (`--help`), so the same mounts show up in both.
export const MOUNT_POINTS_EXCLUDE =
  /^\/(dev|proc|run|sys|mnt|media|var\/lib\/docker\/.+|var\/lib\/containers\/storage\/.+)($|\/)/;
export const FS_TYPES_EXCLUDE =
  /^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$/;
/** A hung network mount must not hang the scrape (node_exporter: --collector.filesystem.mount-timeout). */
const STATFS_TIMEOUT_MS = 5_000;

export interface Mount {
  readonly device: string;
  readonly mountpoint: string;
  readonly fstype: string;
  readonly readonly: boolean;
}

export interface FilesystemUsage extends Mount {
  /** undefined when statfs failed (node_filesystem_device_error 1). */
  readonly stats:
    | {
        readonly sizeBytes: number;
        readonly freeBytes: number;
        readonly availBytes: number;
        readonly files: number;
        readonly filesFree: number;
      }
    | undefined;
}

/** /proc/1/mounts lines → the mounts node_exporter reports, in order, without duplicates. */
export function parseMounts(text: string): Mount[] {
  const seen = new Set<string>();
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const [device, rawMountpoint, fstype, options] = line.split(' ');
    if (device === undefined || rawMountpoint === undefined || fstype === undefined) continue;
    // The kernel escapes space, tab, newline and backslash as octal (\040).
    const mountpoint = rawMountpoint.replace(/\\([0-7]{3})/g, (_, octal: string) =>
      String.fromCharCode(parseInt(octal, 8)),
    );
    if (MOUNT_POINTS_EXCLUDE.test(mountpoint) || FS_TYPES_EXCLUDE.test(fstype)) continue;
    const key = `${device}\0${mountpoint}\0${fstype}`;
    if (seen.has(key)) continue;
    seen.add(key);
    mounts.push({ device, mountpoint, fstype, readonly: (options ?? '').split(',').includes('ro') });
  }
  return mounts;
}

export async function readMounts(procRoot: string, signal?: AbortSignal): Promise<Mount[]> {
  // PID 1's view, like node_exporter: the agent may run in its own mount namespace.
  const text = await readFile(join(procRoot, '1', 'mounts'), { encoding: 'utf8', signal }).catch(() =>
    readFile(join(procRoot, 'mounts'), { encoding: 'utf8', signal }),
  );
  return parseMounts(text);
}

export async function filesystemUsage(mount: Mount): Promise<FilesystemUsage> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const stats = await Promise.race([
      statfs(mount.mountpoint),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error('statfs timed out'));
        }, STATFS_TIMEOUT_MS);
      }),
    ]);
    return {
      ...mount,
      stats: {
        sizeBytes: stats.blocks * stats.bsize,
        freeBytes: stats.bfree * stats.bsize,
        availBytes: stats.bavail * stats.bsize,
        files: stats.files,
        filesFree: stats.ffree,
      },
    };
  } catch {
    return { ...mount, stats: undefined };
  } finally {
    clearTimeout(timer);
  }
}

export async function readFilesystems(procRoot: string, signal?: AbortSignal): Promise<FilesystemUsage[]> {
  return Promise.all((await readMounts(procRoot, signal)).map(filesystemUsage));
}

export function filesystemFamilies(filesystems: readonly FilesystemUsage[]): MetricFamily[] {
  const families = {
    avail: [] as Sample[],
    error: [] as Sample[],
    files: [] as Sample[],
    filesFree: [] as Sample[],
    free: [] as Sample[],
    readonly: [] as Sample[],
    size: [] as Sample[],
  };
  for (const fs of filesystems) {
    const labels = { device: fs.device, fstype: fs.fstype, mountpoint: fs.mountpoint };
    families.error.push({ labels, value: fs.stats === undefined ? 1 : 0 });
    families.readonly.push({ labels, value: fs.readonly ? 1 : 0 });
    if (fs.stats === undefined) continue;
    families.avail.push({ labels, value: fs.stats.availBytes });
    families.files.push({ labels, value: fs.stats.files });
    families.filesFree.push({ labels, value: fs.stats.filesFree });
    families.free.push({ labels, value: fs.stats.freeBytes });
    families.size.push({ labels, value: fs.stats.sizeBytes });
  }
  return [
    gauge(
      'node_filesystem_avail_bytes',
      'Filesystem space available to non-root users in bytes.',
      families.avail,
    ),
    gauge(
      'node_filesystem_device_error',
      'Whether an error occurred while getting statistics for the given device.',
      families.error,
    ),
    gauge('node_filesystem_files', 'Filesystem total file nodes.', families.files),
    gauge('node_filesystem_files_free', 'Filesystem total free file nodes.', families.filesFree),
    gauge('node_filesystem_free_bytes', 'Filesystem free space in bytes.', families.free),
    gauge('node_filesystem_readonly', 'Filesystem read-only status.', families.readonly),
    gauge('node_filesystem_size_bytes', 'Filesystem size in bytes.', families.size),
  ];
}

export function filesystemCollector(procRoot: string): HostCollector {
  return {
    name: 'filesystem',
    collect: async (signal) => filesystemFamilies(await readFilesystems(procRoot, signal)),
  };
}
