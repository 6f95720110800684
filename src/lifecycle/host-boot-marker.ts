import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * When the agent first started in this host boot, kept in a file on /run (tmpfs: empty again
 * after every reboot, like the original's `/run/taupage-init-ran` lock). The boot tells an agent
 * restart (the container exited after this time) from a reboot (it exited before). The kernel's
 * btime would not do: a container "rebooted" with `docker restart` keeps the host's kernel.
 * undefined when the file cannot be read or written: the caller then assumes a reboot.
 */
export async function hostBootStartedAt(file: string, now: number): Promise<number | undefined> {
  try {
    const recorded = Number((await readFile(file, 'utf8')).trim());
    if (Number.isFinite(recorded) && recorded > 0) return recorded;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
  }
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${now}\n`, { mode: 0o644 });
    return now;
  } catch {
    return undefined;
  }
}
