import { uptime } from 'node:os';
import type { Logger } from '../core/logger.js';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The original's init.sh lock and boot-time reference: `mkdir /run/taupage-init-ran`, then
 * `date --utc --iso-8601=seconds | tee /run/taupage-init-ran/date`. /run is a tmpfs, so both
 * vanish at reboot; tools that read the date (log-sink uploads' instance_boot_time) keep working.
 */
export const BOOT_MARKER_DIR = '/run/taupage-init-ran';

/** `date --utc --iso-8601=seconds`: 2024-05-01T12:34:56+00:00. */
export function isoSecondsUtc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}+00:00`;
}

/**
 * Writes `<dir>/date` (with tee's newline) unless this boot already has one: a restarted agent
 * keeps the boot's first time. Returns the boot time recorded and whether this call wrote it.
 */
export async function writeBootMarker(
  nowMs: number,
  dir = BOOT_MARKER_DIR,
): Promise<{ readonly bootTime: string; readonly written: boolean }> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const bootTime = isoSecondsUtc(nowMs);
  try {
    await writeFile(join(dir, 'date'), `${bootTime}\n`, { flag: 'wx', mode: 0o644 });
    return { bootTime, written: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { bootTime: (await readBootTime(dir)) ?? bootTime, written: false };
  }
}

/** The recorded boot time (`taupage.get_boot_time()`), or undefined before the first boot step. */
export async function readBootTime(dir = BOOT_MARKER_DIR): Promise<string | undefined> {
  try {
    const text = (await readFile(join(dir, 'date'), 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export interface HostBootOptions {
  /** When the kernel booted (ms since the epoch); the fallback when the marker cannot be kept. */
  readonly kernelBootedAt?: () => number;
  readonly log?: Logger;
}

/** `now - uptime`: the kernel's boot, to the second. */
function kernelBootTime(): number {
  return Date.now() - Math.round(uptime() * 1000);
}

/**
 * When the agent first started in this host boot: the original's `/run/taupage-init-ran/date`
 * (tmpfs, so empty again after every reboot; `date --utc --iso-8601=seconds`, which host tools
 * such as the log-sink upload read). The boot tells an agent restart (the container exited after
 * this time) from a reboot (it exited before). The kernel's btime is not the first choice: a
 * container "rebooted" with `docker restart` keeps the host's kernel. But when the marker cannot
 * be written or read back (a read-only or full /run, a crash while it was written), the kernel's
 * boot time it is: assuming "a reboot just now" would start a finished batch job again on a mere
 * agent restart.
 */
export async function hostBootStartedAt(
  dir: string,
  now: number,
  options: HostBootOptions = {},
): Promise<number> {
  const kernel = options.kernelBootedAt ?? kernelBootTime;
  let recorded: string | undefined;
  try {
    const { written } = await writeBootMarker(now, dir);
    if (written) return now;
    recorded = await readBootTime(dir);
  } catch (error) {
    options.log?.warn({ err: error, dir }, 'Cannot keep the host boot marker; using the kernel boot time');
    return kernel();
  }
  const parsed = recorded === undefined ? Number.NaN : Date.parse(recorded);
  if (Number.isFinite(parsed)) return parsed;
  options.log?.warn({ dir }, 'Host boot marker unreadable; using the kernel boot time');
  return kernel();
}
