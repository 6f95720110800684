import { mkdtemp, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaupageError } from '../../core/errors.js';
import {
  checkCommand,
  e2fsckOutcome,
  formatCommand,
  growCommand,
  mountCommand,
  mountedSourceCommand,
  parseProbe,
  probeCommand,
  type Command,
} from './filesystem-commands.js';
import type { DeviceSignature, FileOwner, FilesystemCheck, Filesystems } from './filesystems.js';
import { lastLine, runCommand, type CommandResult } from './run-command.js';

/**
 * Deadlines per tool. A full e2fsck of a multi-TB volume takes many minutes, so the check gets
 * the longest; probing and mounting take milliseconds unless the device hangs.
 */
const TIMEOUT_MS = {
  probe: 30_000,
  format: 10 * 60_000,
  check: 30 * 60_000,
  mount: 2 * 60_000,
  grow: 10 * 60_000,
} as const;

/** Adapter: util-linux, e2fsprogs and xfsprogs, always with an argv array (execFile). */
export class LinuxFilesystems implements Filesystems {
  async probe(device: string, signal: AbortSignal): Promise<DeviceSignature | undefined> {
    const result = await run(probeCommand(device), TIMEOUT_MS.probe, signal, 'FILESYSTEM_CHECK_FAILED');
    if (result.exitCode === 2) return undefined; // nothing found
    // 8: several signatures at once (e.g. an old RAID superblock under a filesystem).
    if (result.exitCode === 8) return { type: 'ambivalent', usage: 'other' };
    if (result.exitCode !== 0)
      throw failed('FILESYSTEM_CHECK_FAILED', `blkid could not read ${device}`, result);
    return parseProbe(result.stdout);
  }

  async format(
    device: string,
    filesystem: string,
    owner: FileOwner | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const command = formatCommand(device, filesystem, owner);
    const result = await run(command, TIMEOUT_MS.format, signal, 'FILESYSTEM_FORMAT_FAILED');
    if (result.exitCode !== 0)
      throw failed('FILESYSTEM_FORMAT_FAILED', `${command.file} failed on ${device}`, result);
  }

  async check(device: string, filesystem: string, signal: AbortSignal): Promise<FilesystemCheck> {
    const command = checkCommand(device, filesystem);
    if (command === undefined) return { status: 'skipped', detail: `no check for ${filesystem}` };
    const result = await run(command, TIMEOUT_MS.check, signal, 'FILESYSTEM_CHECK_FAILED');
    if (command.file === 'e2fsck') {
      const outcome = e2fsckOutcome(result.exitCode);
      if (!outcome.ok)
        throw failed('FILESYSTEM_CHECK_FAILED', `e2fsck on ${device}: ${outcome.detail}`, result);
      return { status: result.exitCode === 0 ? 'clean' : 'repaired', detail: outcome.detail };
    }
    if (result.exitCode === 0) return { status: 'clean', detail: 'no errors' };
    // xfs_repair -n also reports "errors" when the log is merely dirty (an unclean shutdown).
    // Mounting replays the log; only what is still wrong after that is damage.
    await this.#replayXfsLog(device, signal);
    const again = await run(command, TIMEOUT_MS.check, signal, 'FILESYSTEM_CHECK_FAILED');
    if (again.exitCode !== 0)
      throw failed('FILESYSTEM_CHECK_FAILED', `xfs_repair -n found damage on ${device}`, again);
    return { status: 'clean', detail: 'log replayed, no errors' };
  }

  async mount(
    source: string,
    mountPoint: string,
    filesystem: string,
    options: string | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const result = await run(
      mountCommand(source, mountPoint, filesystem, options),
      TIMEOUT_MS.mount,
      signal,
      'MOUNT_FAILED',
    );
    if (result.exitCode !== 0)
      throw failed('MOUNT_FAILED', `mount of ${source} on ${mountPoint} failed`, result);
  }

  async grow(device: string, mountPoint: string, filesystem: string, signal: AbortSignal): Promise<boolean> {
    const command = growCommand(device, mountPoint, filesystem);
    if (command === undefined) return false;
    const result = await run(command, TIMEOUT_MS.grow, signal, 'MOUNT_FAILED');
    if (result.exitCode !== 0) throw failed('MOUNT_FAILED', `${command.file} failed on ${device}`, result);
    return true;
  }

  async mountedSource(mountPoint: string, signal: AbortSignal): Promise<string | undefined> {
    const result = await run(mountedSourceCommand(mountPoint), TIMEOUT_MS.probe, signal, 'MOUNT_FAILED');
    if (result.exitCode !== 0) return undefined; // findmnt: 1 = not a mount point
    // Stacked mounts list every source; the last one is what the path shows.
    return lastLine(result.stdout) || undefined;
  }

  async #replayXfsLog(device: string, signal: AbortSignal): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'taupage-xfs-replay-'));
    try {
      await this.mount(device, dir, 'xfs', undefined, signal);
      const result = await run({ file: 'umount', args: [dir] }, TIMEOUT_MS.mount, signal, 'MOUNT_FAILED');
      if (result.exitCode !== 0) throw failed('MOUNT_FAILED', `umount of ${dir} failed`, result);
    } catch (error) {
      throw new TaupageError(
        'FILESYSTEM_CHECK_FAILED',
        `xfs_repair -n found damage on ${device}, and mounting it to replay the log failed`,
        {
          cause: error,
        },
      );
    } finally {
      await rmdir(dir).catch(() => undefined);
    }
  }
}

async function run(
  command: Command,
  timeoutMs: number,
  signal: AbortSignal,
  code: 'FILESYSTEM_CHECK_FAILED' | 'FILESYSTEM_FORMAT_FAILED' | 'MOUNT_FAILED',
): Promise<CommandResult> {
  try {
    return await runCommand(command.file, command.args, { signal, timeoutMs });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new TaupageError(code, error instanceof Error ? error.message : String(error), { cause: error });
  }
}

function failed(
  code: 'FILESYSTEM_CHECK_FAILED' | 'FILESYSTEM_FORMAT_FAILED' | 'MOUNT_FAILED',
  what: string,
  result: CommandResult,
): TaupageError {
  const said = lastLine(result.stderr) || lastLine(result.stdout);
  return new TaupageError(code, said === '' ? `${what} (exit ${result.exitCode})` : `${what}: ${said}`);
}
