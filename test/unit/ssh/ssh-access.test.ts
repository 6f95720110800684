import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEventType } from '../../../src/audit/audit-event.js';
import type { AuditRecorder } from '../../../src/audit/audit-trail.js';
import type { Clock } from '../../../src/core/clock.js';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import { GrantStore } from '../../../src/ssh/grant-store.js';
import { parsePublicKey } from '../../../src/ssh/public-key.js';
import { SshAccess } from '../../../src/ssh/ssh-access.js';
import {
  MANAGED_ACCOUNT_COMMENT,
  type UserAccount,
  type UserAccounts,
} from '../../../src/ssh/user-accounts.js';

const KEY = parsePublicKey(
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
);
const uid = process.getuid?.() ?? 1000;
const gid = process.getgid?.() ?? 1000;

/** Accounts in memory with homes in a temp dir; processes that die on TERM unless `stubborn`. */
class FakeUserAccounts implements UserAccounts {
  readonly accounts = new Map<string, UserAccount>();
  readonly signals: string[] = [];
  processes = 0;
  stubborn = false;
  constructor(private readonly base: string) {}
  lookup(name: string) {
    return Promise.resolve(this.accounts.get(name));
  }
  async create(name: string, _groups: readonly string[], comment: string) {
    const home = join(this.base, name);
    await mkdir(home, { recursive: true });
    this.accounts.set(name, { name, uid, gid, home, comment });
  }
  signalProcesses(_uid: number, signal: 'TERM' | 'KILL') {
    this.signals.push(signal);
    const had = this.processes > 0;
    if (signal === 'KILL' || !this.stubborn) this.processes = 0;
    return Promise.resolve(had);
  }
  hasProcesses() {
    return Promise.resolve(this.processes > 0);
  }
}

class FakeClock implements Clock {
  constructor(public t: number) {}
  now() {
    return this.t;
  }
  sleep(ms: number) {
    this.t += ms;
    return Promise.resolve();
  }
}

let dir: string;
let accounts: FakeUserAccounts;
let clock: FakeClock;
let events: Array<{ type: AuditEventType; data: Readonly<Record<string, unknown>> }>;
let auditFails: boolean;
let access: SshAccess;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-ssh-unit-'));
  accounts = new FakeUserAccounts(dir);
  clock = new FakeClock(Date.parse('2026-11-21T23:00:00Z'));
  events = [];
  auditFails = false;
  const audit: AuditRecorder = {
    record: (type, data) => {
      if (auditFails) return Promise.reject(new Error('disk gone'));
      events.push({ type, data });
      return Promise.resolve({} as never);
    },
  };
  access = new SshAccess({
    accounts,
    grants: new GrantStore(join(dir, 'grants.json'), clock),
    audit,
    clock,
    log: createLogger({ level: 'silent', redactor: new Redactor() }),
    fetchKey: () => Promise.resolve(KEY),
    userGroups: ['adm'],
    defaultLifetimeMinutes: 60,
    maxLifetimeMinutes: 120,
    rootKeysFile: join(dir, 'root', 'authorized_keys'),
    killGraceMs: 2_000,
  });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SshAccess', () => {
  it('grants for the default lifetime, caps a longer --ttl at the AMI maximum, and audits with the fingerprint', async () => {
    const first = await access.grant({ user: 'alice', remoteHost: '10.0.0.1', ttlMinutes: undefined });
    expect(first.expiresAt - clock.t).toBe(60 * 60_000);
    const capped = await access.grant({ user: 'alice', remoteHost: undefined, ttlMinutes: 10_000 });
    expect(capped.expiresAt - clock.t).toBe(120 * 60_000);
    expect(await access.list()).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'ssh.grant',
      data: {
        user: 'alice',
        remoteHost: '10.0.0.1',
        ttlMinutes: 60,
        keyFingerprint: expect.stringMatching(/^SHA256:[A-Za-z0-9+/]{43}$/) as string,
      },
    });
    expect(accounts.accounts.get('alice')?.comment.startsWith(MANAGED_ACCOUNT_COMMENT)).toBe(true);
  });

  it('never touches an existing account it did not create', async () => {
    accounts.accounts.set('ops', { name: 'ops', uid, gid, home: dir, comment: 'Operations' });
    await expect(
      access.grant({ user: 'ops', remoteHost: undefined, ttlMinutes: undefined }),
    ).rejects.toMatchObject({ code: 'SSH_REQUEST_INVALID' });
    await expect(access.revoke('ops', 'revoke')).rejects.toMatchObject({ code: 'SSH_REQUEST_INVALID' });
    expect(await access.list()).toEqual([]);
  });

  it('takes the grant back when it cannot be audited', async () => {
    auditFails = true;
    await expect(
      access.grant({ user: 'alice', remoteHost: undefined, ttlMinutes: undefined }),
    ).rejects.toMatchObject({ code: 'SSH_GRANT_FAILED' });
    expect(await access.list()).toEqual([]);
    const keys = await readFile(join(dir, 'alice', '.ssh', 'authorized_keys'), 'utf8');
    expect(keys).toMatch(/^restrict,command="echo/);
  });

  it('ends processes with TERM, and KILL after the grace period when TERM is ignored', async () => {
    await access.grant({ user: 'alice', remoteHost: undefined, ttlMinutes: undefined });
    accounts.processes = 2;
    accounts.stubborn = true;
    const before = clock.t;
    const result = await access.revoke('alice', 'revoke');
    expect(accounts.signals).toEqual(['TERM', 'KILL']);
    expect(clock.t - before).toBeGreaterThanOrEqual(2_000);
    expect(result).toMatchObject({ hadGrant: true, processesEnded: true });
    expect(events.at(-1)).toMatchObject({ type: 'ssh.revoke', data: { user: 'alice', hadGrant: true } });
  });

  it('expires only due grants, and not one renewed in the meantime', async () => {
    await access.grant({ user: 'alice', remoteHost: undefined, ttlMinutes: 5 });
    await access.grant({ user: 'bob', remoteHost: undefined, ttlMinutes: 60 });
    clock.t += 5 * 60_000 + 1;
    expect(await access.expireDue()).toEqual(['alice']);
    expect(events.at(-1)).toMatchObject({ type: 'ssh.expire', data: { user: 'alice', lateMs: 1 } });
    expect((await access.list()).map((g) => g.user)).toEqual(['bob']);
    // A revoke of type "expire" for a grant that is not due (renewed) does nothing.
    expect(await access.revoke('bob', 'expire')).toBeUndefined();
  });
});
