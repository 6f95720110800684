import { writeBootMarker } from '../host/boot-marker.js';

/**
 * When the agent first started in this host boot: the original's `/run/taupage-init-ran/date`
 * (tmpfs, so empty again after every reboot; `date --utc --iso-8601=seconds`, which host tools
 * such as the log-sink upload read). The boot tells an agent restart (the container exited after
 * this time) from a reboot (it exited before). The kernel's btime would not do: a container
 * "rebooted" with `docker restart` keeps the host's kernel. undefined when the marker cannot be
 * read or written: the caller then assumes a reboot.
 */
export async function hostBootStartedAt(dir: string, now: number): Promise<number | undefined> {
  try {
    const { bootTime, written } = await writeBootMarker(now, dir);
    if (written) return now;
    const recorded = Date.parse(bootTime);
    return Number.isFinite(recorded) ? recorded : undefined;
  } catch {
    return undefined;
  }
}
