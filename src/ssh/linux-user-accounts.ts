import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { firstLine } from '../core/errors.js';
import type { UserAccount, UserAccounts } from './user-accounts.js';

const run = promisify(execFile);
/** useradd and getent finish in milliseconds; a hung NSS lookup must not hang even's SSH call. */
const COMMAND_TIMEOUT_MS = 10_000;

/**
 * Adapter: shadow-utils (`useradd`), `getent` and procps (`pkill`, `pgrep`), always with an argv
 * array (execFile, never a shell); names reaching here are validated already.
 */
export class LinuxUserAccounts implements UserAccounts {
  readonly #homeBase: string | undefined;
  readonly #shell: string;

  /** `homeBase`: where homes go (`useradd -b`); tests use a tiny tmpfs to simulate a full disk. */
  constructor(options: { homeBase?: string | undefined; shell?: string } = {}) {
    this.#homeBase = options.homeBase;
    this.#shell = options.shell ?? '/bin/bash';
  }

  async lookup(name: string, signal?: AbortSignal): Promise<UserAccount | undefined> {
    try {
      const { stdout } = await run('getent', ['passwd', '--', name], {
        timeout: COMMAND_TIMEOUT_MS,
        ...(signal === undefined ? {} : { signal }),
      });
      const [user = '', , uid = '', gid = '', comment = '', home = ''] = stdout.trim().split(':');
      if (user !== name) return undefined;
      return { name, uid: Number(uid), gid: Number(gid), home, comment };
    } catch (error) {
      // getent exits 2 for "no such key".
      if ((error as { code?: unknown }).code === 2) return undefined;
      throw error;
    }
  }

  async create(
    name: string,
    groups: readonly string[],
    comment: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const args = ['--user-group', '--create-home', '--shell', this.#shell, '--comment', comment];
    if (groups.length > 0) args.push('--groups', groups.join(','));
    if (this.#homeBase !== undefined) args.push('--base-dir', this.#homeBase);
    args.push('--', name);
    try {
      await run('useradd', args, {
        timeout: COMMAND_TIMEOUT_MS,
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      // useradd exits 12 when the account exists but the home could not be made (disk full):
      // the caller looks the account up and falls back when the key cannot be written.
      if ((error as { code?: unknown }).code === 12) return;
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`useradd failed: ${firstLine(stderr)}`, { cause: error });
    }
  }

  async signalProcesses(uid: number, signal: 'TERM' | 'KILL'): Promise<boolean> {
    try {
      await run('pkill', [`-${signal}`, '-U', String(uid)], { timeout: COMMAND_TIMEOUT_MS });
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === 1) return false; // no process matched
      throw error;
    }
  }

  async hasProcesses(uid: number): Promise<boolean> {
    try {
      await run('pgrep', ['-U', String(uid)], { timeout: COMMAND_TIMEOUT_MS });
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code === 1) return false;
      throw error;
    }
  }
}
