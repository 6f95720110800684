import { uptime } from 'node:os';
import type { Logger } from '../core/logger.js';
import { readBootTime, writeBootMarker } from '../host/boot-marker.js';

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
