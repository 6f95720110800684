import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Clock } from '../core/clock.js';
import { withFileLock } from '../audit/file-lock.js';
import { readOrEmpty, writeFileAtomically } from '../audit/atomic-file.js';

/** One active grant, as persisted: enough to revoke it after a restart or a reboot. */
export interface SshGrant {
  readonly user: string;
  /** Epoch milliseconds. */
  readonly grantedAt: number;
  readonly expiresAt: number;
  readonly remoteHost: string | undefined;
  /** `root`: the disk was full and the key went to root's tmpfs-backed authorized_keys. */
  readonly target: 'user' | 'root';
  /** `type blob`, to write the revoked line without asking the key server again. */
  readonly key: { readonly type: string; readonly blob: string };
}

interface GrantFile {
  readonly version: 1;
  readonly grants: SshGrant[];
}

export const DEFAULT_GRANT_STATE_FILE = '/var/lib/taupage/ssh-grants.json';

/**
 * The active grants, in a JSON file under /var/lib (survives reboots: a reboot must not turn a
 * 60-minute grant into a permanent key). Every change is a locked read-modify-write with an
 * atomic replace, because the forced command and the agent's expiry loop both change it.
 */
export class GrantStore {
  readonly #file: string;
  readonly #clock: Clock;

  constructor(file: string, clock: Clock) {
    this.#file = file;
    this.#clock = clock;
  }

  get file(): string {
    return this.#file;
  }

  async list(): Promise<SshGrant[]> {
    return (await this.#read()).grants;
  }

  /** Applies `change` to the grant list under the lock; returns what `change` returned. */
  async update<T>(change: (grants: SshGrant[]) => Promise<{ grants: SshGrant[]; result: T }>): Promise<T> {
    await mkdir(dirname(this.#file), { recursive: true, mode: 0o700 });
    return withFileLock(this.#file, this.#clock, async () => {
      const { grants, result } = await change((await this.#read()).grants);
      const file: GrantFile = { version: 1, grants };
      // Empty when no grant is active: taupage-ssh-expiry.service's ConditionFileNotEmpty= then
      // skips starting Node.js at all.
      await writeFileAtomically(this.#file, grants.length === 0 ? '' : `${JSON.stringify(file, null, 2)}\n`);
      return result;
    });
  }

  async #read(): Promise<GrantFile> {
    const text = await readOrEmpty(this.#file);
    if (text.trim() === '') return { version: 1, grants: [] };
    const parsed = JSON.parse(text) as Partial<GrantFile>;
    return { version: 1, grants: Array.isArray(parsed.grants) ? parsed.grants : [] };
  }
}
