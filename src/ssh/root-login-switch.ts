import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readOrEmpty, writeFileAtomically } from '../audit/atomic-file.js';
import type { SshdReloader } from './sshd-reloader.js';

/** tmpfs, outside systemd's RuntimeDirectory (which is emptied when the agent stops). */
export const DEFAULT_SSHD_RUNTIME_DIR = '/run/taupage-ssh/sshd_config.d';
const FILE_NAME = 'root-fallback.conf';
const CONTENT =
  '# Written by taupage ssh-access while a disk-full grant through root is active; removed when it ends.\nPermitRootLogin prohibit-password\n';

/**
 * sshd says `PermitRootLogin no` (the AMI and the taupage drop-in) except while someone holds a
 * disk-full grant through root: then a file in the runtime dir, which the drop-in includes
 * first, allows root by key, and sshd is reloaded. The runtime dir is tmpfs, so this works on a
 * full disk and vanishes at reboot, like root's fallback keys.
 */
export class RootLoginSwitch {
  readonly #file: string;
  readonly #reloader: SshdReloader;

  constructor(runtimeDir: string, reloader: SshdReloader) {
    this.#file = join(runtimeDir, FILE_NAME);
    this.#reloader = reloader;
  }

  /** Root may log in by key (changes and reloads only if it could not before). */
  async allow(): Promise<void> {
    if ((await readOrEmpty(this.#file)) === CONTENT) return;
    await mkdir(join(this.#file, '..'), { recursive: true, mode: 0o755 });
    await writeFileAtomically(this.#file, CONTENT);
    await this.#reloader.reload();
  }

  /** Back to no root logins (changes and reloads only if root could log in). */
  async forbid(): Promise<void> {
    try {
      await unlink(this.#file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await this.#reloader.reload();
  }
}
