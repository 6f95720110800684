import { createHash } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import type { Clock } from '../core/clock.js';
import { TaupageError, isTaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { readOrEmpty } from '../audit/atomic-file.js';
import type { AuditRecorder } from '../audit/audit-trail.js';
import {
  addRootKey,
  grantLine,
  managedKeys,
  removeRootKey,
  revokedLine,
  userKeysFile,
  writeUserKeys,
} from './authorized-keys.js';
import type { GrantStore, SshGrant } from './grant-store.js';
import type { PublicKey } from './public-key.js';
import { MANAGED_ACCOUNT_COMMENT, type UserAccount, type UserAccounts } from './user-accounts.js';

/** The original: `killall -u`, then 2 s later `killall -KILL`. */
export const DEFAULT_KILL_GRACE_MS = 2_000;
const PROCESS_POLL_MS = 100;

export interface SshAccessDependencies {
  readonly accounts: UserAccounts;
  readonly grants: GrantStore;
  readonly audit: AuditRecorder;
  readonly clock: Clock;
  readonly log: Logger;
  readonly fetchKey: (user: string, signal?: AbortSignal) => Promise<PublicKey>;
  readonly userGroups: readonly string[];
  readonly defaultLifetimeMinutes: number;
  readonly maxLifetimeMinutes: number;
  /** root's authorized_keys (a symlink into tmpfs on the AMI): the disk-full fallback. */
  readonly rootKeysFile: string;
  readonly killGraceMs?: number;
  /** Allows root logins by key only while a disk-full grant through root is active. */
  readonly rootLogin?: { allow(): Promise<void>; forbid(): Promise<void> } | undefined;
}

export interface GrantResult {
  readonly user: string;
  readonly expiresAt: number;
  readonly target: 'user' | 'root';
}

export interface RevokeResult {
  readonly user: string;
  readonly hadGrant: boolean;
  readonly processesEnded: boolean;
}

/** `SHA256:…` as sshd logs it ("Accepted publickey … SHA256:…"), so audit lines can be joined. */
export function fingerprint(key: PublicKey): string {
  return `SHA256:${createHash('sha256').update(Buffer.from(key.blob, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

function isDiskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EROFS';
}

function failed(message: string, cause: unknown): TaupageError {
  return isTaupageError(cause) ? cause : new TaupageError('SSH_GRANT_FAILED', message, { cause });
}

/**
 * Grants and revokes even's time-limited SSH access on this host. Beyond the original: every
 * grant has a local expiry (persisted, enforced by the agent and by sshd's `expiry-time`), the
 * root fallback key is revoked too, and every step leaves an audit event.
 */
export class SshAccess {
  readonly #deps: SshAccessDependencies;
  readonly #log: Logger;

  constructor(deps: SshAccessDependencies) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'ssh-access' });
  }

  async grant(
    request: { user: string; remoteHost: string | undefined; ttlMinutes: number | undefined },
    signal?: AbortSignal,
  ): Promise<GrantResult> {
    const { user, remoteHost } = request;
    const deps = this.#deps;
    // Fetched before anything is created: a user the key server does not know leaves no trace.
    const key = await deps.fetchKey(user, signal);
    const ttlMinutes = Math.min(request.ttlMinutes ?? deps.defaultLifetimeMinutes, deps.maxLifetimeMinutes);
    const grantedAt = deps.clock.now();
    const expiresAt = grantedAt + ttlMinutes * 60_000;
    const line = grantLine(key, user, expiresAt);

    const target = await deps.grants.update(async (grants) => {
      const account = await this.#managedAccount(user, true, signal);
      let where: 'user' | 'root' = 'user';
      try {
        if (account === undefined)
          throw Object.assign(new Error('the account could not be created'), { code: 'ENOSPC' });
        await writeUserKeys(account, line);
      } catch (error) {
        if (!isDiskFull(error)) throw failed(`Cannot write the authorized_keys of ${user}`, error);
        // The original's fallback: the user logs in as root with their own key.
        this.#log.warn(
          { user, code: (error as NodeJS.ErrnoException).code },
          'Disk full, granting through root',
        );
        await addRootKey(deps.rootKeysFile, user, line).catch((rootError: unknown) => {
          throw failed(`Cannot write the fallback key for ${user}`, rootError);
        });
        try {
          await deps.rootLogin?.allow();
        } catch (switchError) {
          await removeRootKey(deps.rootKeysFile, user).catch(() => undefined);
          throw failed('Cannot allow root logins for the disk-full fallback', switchError);
        }
        where = 'root';
      }
      const grant: SshGrant = { user, grantedAt, expiresAt, remoteHost, target: where, key };
      return { grants: [...grants.filter((g) => g.user !== user), grant], result: where };
    });

    try {
      await deps.audit.record('ssh.grant', {
        user,
        remoteHost: remoteHost ?? null,
        ttlMinutes,
        expiresAt: new Date(expiresAt).toISOString(),
        target,
        keyType: key.type,
        keyFingerprint: fingerprint(key),
      });
    } catch (error) {
      // No audit record, no access: undo the grant rather than leave an unaudited key.
      this.#log.error({ err: error, user }, 'Cannot record the grant in the audit trail, revoking it');
      await this.revoke(user, 'revoke', { remoteHost, audit: false });
      throw failed('Cannot record the grant in the audit trail', error);
    }
    this.#log.info({ user, expiresAt: new Date(expiresAt).toISOString(), target }, 'Granted SSH access');
    return { user, expiresAt, target };
  }

  /**
   * Replaces the user's keys by the "revoked" forced command, removes the root fallback line,
   * then ends the user's processes: TERM, and KILL after the grace period.
   * `expire` only revokes a grant that is still due (it may have been renewed meanwhile).
   */
  async revoke(
    user: string,
    reason: 'revoke' | 'expire',
    options: { remoteHost?: string | undefined; audit?: boolean; signal?: AbortSignal } = {},
  ): Promise<RevokeResult | undefined> {
    const deps = this.#deps;
    const outcome = await deps.grants.update(async (grants) => {
      const grant = grants.find((g) => g.user === user);
      if (reason === 'expire' && (grant === undefined || grant.expiresAt > deps.clock.now()))
        return { grants, result: undefined };
      const account = await this.#managedAccount(user, false, options.signal);
      if (account !== undefined) await this.#revokeUserKeys(account, grant);
      await removeRootKey(deps.rootKeysFile, user).catch((error: unknown) => {
        throw failed(`Cannot remove the fallback key of ${user}`, error);
      });
      const remaining = grants.filter((g) => g.user !== user);
      if (deps.rootLogin !== undefined && !remaining.some((g) => g.target === 'root'))
        await deps.rootLogin.forbid().catch((error: unknown) => {
          // The key itself is gone; root logins stay allowed (by key) until the next revoke or reboot.
          this.#log.error({ err: error }, 'Cannot forbid root logins again');
        });
      return { grants: remaining, result: { grant, account } };
    });
    if (outcome === undefined) return undefined;
    const processesEnded =
      outcome.account === undefined ? false : await this.#endProcesses(outcome.account.uid);
    const result: RevokeResult = { user, hadGrant: outcome.grant !== undefined, processesEnded };
    if (options.audit !== false) {
      await deps.audit.record(reason === 'expire' ? 'ssh.expire' : 'ssh.revoke', {
        user,
        remoteHost: options.remoteHost ?? null,
        hadGrant: result.hadGrant,
        processesEnded,
        ...(outcome.grant === undefined
          ? {}
          : {
              expiresAt: new Date(outcome.grant.expiresAt).toISOString(),
              lateMs: Math.max(0, deps.clock.now() - outcome.grant.expiresAt),
            }),
      });
    }
    this.#log.info(
      { user, reason, processesEnded },
      reason === 'expire' ? 'Expired SSH access' : 'Revoked SSH access',
    );
    return result;
  }

  /** The active grants (also those past due that the next check will expire). */
  async list(): Promise<SshGrant[]> {
    return this.#deps.grants.list();
  }

  /** Revokes every grant whose time is up; returns the users expired. */
  async expireDue(): Promise<string[]> {
    const now = this.#deps.clock.now();
    const due = (await this.#deps.grants.list()).filter((g) => g.expiresAt <= now);
    const expired: string[] = [];
    for (const grant of due) {
      try {
        if ((await this.revoke(grant.user, 'expire')) !== undefined) expired.push(grant.user);
      } catch (error) {
        this.#log.error({ err: error, user: grant.user }, 'Failed to expire SSH access');
      }
    }
    return expired;
  }

  /** The account, if it is one even created; an existing account of anyone else is never touched. */
  async #managedAccount(
    user: string,
    create: boolean,
    signal?: AbortSignal,
  ): Promise<UserAccount | undefined> {
    const { accounts, clock, userGroups } = this.#deps;
    let account = await accounts.lookup(user, signal);
    if (account === undefined && create) {
      const comment = `${MANAGED_ACCOUNT_COMMENT} on ${new Date(clock.now()).toISOString().slice(0, 10)}`;
      try {
        await accounts.create(user, userGroups, comment, signal);
      } catch (error) {
        this.#log.warn({ err: error, user }, 'Cannot create the user');
      }
      account = await accounts.lookup(user, signal);
    }
    if (account !== undefined && !account.comment.startsWith(MANAGED_ACCOUNT_COMMENT))
      throw new TaupageError(
        'SSH_REQUEST_INVALID',
        `"${user}" is an existing local account not managed by even`,
      );
    return account;
  }

  async #revokeUserKeys(account: UserAccount, grant: SshGrant | undefined): Promise<void> {
    const file = userKeysFile(account);
    let content: string;
    try {
      content = await readOrEmpty(file);
    } catch (error) {
      throw failed(`Cannot read the authorized_keys of ${account.name}`, error);
    }
    const keys = managedKeys(content, account.name);
    if (grant !== undefined && !keys.some((k) => k.blob === grant.key.blob)) keys.push(grant.key);
    if (keys.length === 0) return;
    try {
      await writeUserKeys(account, keys.map((key) => revokedLine(key, account.name)).join(''));
    } catch (error) {
      if (!isDiskFull(error)) throw failed(`Cannot revoke the keys of ${account.name}`, error);
      // No room for the revoked line: removing the file needs none and still locks the user out.
      await unlink(file).catch((unlinkError: unknown) => {
        if ((unlinkError as NodeJS.ErrnoException).code !== 'ENOENT')
          throw failed(`Cannot revoke ${account.name}`, unlinkError);
      });
    }
  }

  async #endProcesses(uid: number): Promise<boolean> {
    const { accounts, clock } = this.#deps;
    if (!(await accounts.signalProcesses(uid, 'TERM'))) return false;
    const deadline = clock.now() + (this.#deps.killGraceMs ?? DEFAULT_KILL_GRACE_MS);
    while (clock.now() < deadline) {
      if (!(await accounts.hasProcesses(uid))) return true;
      await clock.sleep(PROCESS_POLL_MS);
    }
    await accounts.signalProcesses(uid, 'KILL');
    return true;
  }
}
