import type { DeviceSignature, FileOwner } from './filesystems.js';

/** A program and its argv, built here (pure, unit-tested) and run by the adapter with execFile. */
export interface Command {
  readonly file: string;
  readonly args: readonly string[];
}

const EXT = new Set(['ext2', 'ext3', 'ext4']);

export const isExtFilesystem = (filesystem: string): boolean => EXT.has(filesystem);

/** ext2/3/4 are one family: e2fsck checks all, and the ext4 driver mounts all three. */
export function sameFilesystemFamily(found: string, wanted: string): boolean {
  return found === wanted || (isExtFilesystem(found) && isExtFilesystem(wanted));
}

/** `blkid -p`: low-level probe, bypassing blkid's cache (which may predate a format). */
export const probeCommand = (device: string): Command => ({
  file: 'blkid',
  args: ['-p', '-o', 'export', device],
});

/** blkid exits 0 with `KEY=value` lines, 2 when it found nothing. */
export function parseProbe(stdout: string): DeviceSignature | undefined {
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) values.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  const type = values.get('TYPE');
  if (type !== undefined) return { type, usage: values.get('USAGE') ?? 'other' };
  const table = values.get('PTTYPE');
  if (table !== undefined) return { type: table, usage: 'partition table' };
  return undefined;
}

/**
 * mkfs for a fresh filesystem. `-F`/`-f`: overwrite what is there (erase_on_boot means it), and
 * never stop at a confirmation prompt. No discard (`nodiscard`, `-K`): a new EBS volume reads as
 * zeros already, and discarding a large volume takes minutes. ext* sets the root directory's
 * owner at format time (the original's `root_owner`); other filesystems are chowned after mount.
 */
export function formatCommand(device: string, filesystem: string, owner: FileOwner | undefined): Command {
  if (isExtFilesystem(filesystem)) {
    const extended = owner === undefined ? 'nodiscard' : `nodiscard,root_owner=${owner.uid}:${owner.gid}`;
    return { file: `mkfs.${filesystem}`, args: ['-q', '-F', '-E', extended, device] };
  }
  if (filesystem === 'xfs') return { file: 'mkfs.xfs', args: ['-q', '-f', '-K', device] };
  if (filesystem === 'btrfs') return { file: 'mkfs.btrfs', args: ['-q', '-f', '-K', device] };
  throw new Error(`cannot format ${filesystem}`);
}

/**
 * The check before mounting. e2fsck `-f -p`: force a full check, fix what is safe without
 * questions. xfs_repair `-n`: report only; XFS repairs itself from its log at mount time, and a
 * real repair of a damaged XFS is an operator's decision.
 */
export function checkCommand(device: string, filesystem: string): Command | undefined {
  if (isExtFilesystem(filesystem)) return { file: 'e2fsck', args: ['-f', '-p', device] };
  if (filesystem === 'xfs') return { file: 'xfs_repair', args: ['-n', device] };
  return undefined;
}

/** e2fsck(8) exit status, a bit mask: 0 clean, 1 fixed; anything else stops the boot. */
export function e2fsckOutcome(exitCode: number): { ok: boolean; detail: string } {
  if (exitCode === 0) return { ok: true, detail: 'no errors' };
  if (exitCode === 1) return { ok: true, detail: 'errors corrected' };
  if ((exitCode & 4) !== 0) return { ok: false, detail: `errors left uncorrected (e2fsck exit ${exitCode})` };
  if ((exitCode & 2) !== 0)
    return { ok: false, detail: `errors corrected, reboot needed (e2fsck exit ${exitCode})` };
  if ((exitCode & 8) !== 0) return { ok: false, detail: `operational error (e2fsck exit ${exitCode})` };
  return { ok: false, detail: `unexpected e2fsck exit ${exitCode}` };
}

export function mountCommand(
  source: string,
  mountPoint: string,
  filesystem: string,
  options: string | undefined,
): Command {
  const args = ['-t', filesystem];
  if (options !== undefined && options !== '') args.push('-o', options);
  args.push(filesystem === 'tmpfs' ? 'tmpfs' : source, mountPoint);
  return { file: 'mount', args };
}

/** Mount options as the original passed them: spaces removed (`noatime, nodiratime`). */
export const normaliseMountOptions = (options: string | undefined): string | undefined =>
  options === undefined ? undefined : options.replace(/\s+/g, '') || undefined;

/**
 * Grows a filesystem to its device (after ModifyVolume or a bigger snapshot). ext* is grown
 * unmounted, right after its e2fsck -f (which offline resize2fs requires): online growth uses an
 * ioctl that needs CAP_SYS_RESOURCE and is slower. XFS grows only mounted; xfs_growfs needs
 * `-d` to grow the data section (without options it only prints the geometry).
 */
export function growCommand(device: string, mountPoint: string, filesystem: string): Command | undefined {
  if (isExtFilesystem(filesystem)) return { file: 'resize2fs', args: [device] };
  if (filesystem === 'xfs') return { file: 'xfs_growfs', args: ['-d', mountPoint] };
  return undefined;
}

export const mountedSourceCommand = (mountPoint: string): Command => ({
  file: 'findmnt',
  args: ['-n', '-o', 'SOURCE', '--mountpoint', mountPoint],
});

/** XFS can only grow mounted; ext* is grown before mounting (see growCommand). */
export const growsMounted = (filesystem: string): boolean => filesystem === 'xfs';
