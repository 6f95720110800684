import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentNodePath } from '../../../scripts/agent-node.mjs';
import { runCli } from '../../../src/cli/program.js';
import { systemClock } from '../../../src/core/clock.js';
import { SSH_ACCESS_DEFAULTS } from '../../../src/ssh/create-ssh-access.js';
import { GrantStore, type SshGrant } from '../../../src/ssh/grant-store.js';

const run = promisify(execFile);
const unitDir = fileURLToPath(new URL('../../../systemd/', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-expiry-timer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `Key=value` lines of a unit file (comments and sections dropped). */
async function unit(name: string): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  for (const line of (await readFile(join(unitDir, name), 'utf8')).split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], match[2]);
  }
  return values;
}

function seconds(value: string | undefined): number {
  const match = /^(\d+)s$/.exec(value ?? '');
  if (match?.[1] === undefined) throw new Error(`not a number of seconds: ${value}`);
  return Number(match[1]);
}

describe('taupage-ssh-expiry.timer: grants end even when the agent is down', () => {
  it('is a valid timer and service for systemd (systemd-analyze verify)', async () => {
    // The AMI's Node.js is /usr/local/bin/node; here the same pinned binary stands in for it.
    const service = (await readFile(join(unitDir, 'taupage-ssh-expiry.service'), 'utf8')).replace(
      '/usr/local/bin/node',
      agentNodePath(),
    );
    await writeFile(join(dir, 'taupage-ssh-expiry.service'), service);
    await writeFile(
      join(dir, 'taupage-ssh-expiry.timer'),
      await readFile(join(unitDir, 'taupage-ssh-expiry.timer'), 'utf8'),
    );
    const { stdout, stderr } = await run('systemd-analyze', [
      'verify',
      '--man=no',
      join(dir, 'taupage-ssh-expiry.timer'),
      join(dir, 'taupage-ssh-expiry.service'),
    ]);
    expect(stdout + stderr).toBe('');
  });

  it('runs `ssh-access expire` often enough to revoke within 30 s, on the agent’s grant file', async () => {
    const timer = await unit('taupage-ssh-expiry.timer');
    const service = await unit('taupage-ssh-expiry.service');
    expect(timer.get('Unit')).toBe('taupage-ssh-expiry.service');
    expect(seconds(timer.get('OnUnitActiveSec')) + seconds(timer.get('AccuracySec'))).toBeLessThanOrEqual(20);
    expect(service.get('ExecStart')).toBe('/usr/local/bin/node /opt/taupage/taupage.mjs ssh-access expire');
    expect(service.get('ConditionFileNotEmpty')).toBe(SSH_ACCESS_DEFAULTS.grantsFile);
    // The same agent.env as taupage.service, so overridden paths agree.
    const agent = await readFile(join(unitDir, 'taupage.service'), 'utf8');
    expect(agent).toContain(`EnvironmentFile=${service.get('EnvironmentFile') ?? '?'}`);
    // ami/30-taupage.sh installs and enables it.
    const install = await readFile(
      fileURLToPath(new URL('../../../ami/30-taupage.sh', import.meta.url)),
      'utf8',
    );
    expect(install).toMatch(/systemctl enable .*taupage-ssh-expiry\.timer/);
  });

  it('skips Node.js while no grant is active: the grant file is empty then', async () => {
    const file = join(dir, 'ssh-grants.json');
    const store = new GrantStore(file, systemClock);
    const grant: SshGrant = {
      user: 'alice',
      grantedAt: Date.now(),
      expiresAt: Date.now() + 60_000,
      remoteHost: undefined,
      target: 'user',
      key: { type: 'ssh-ed25519', blob: 'AAAAC3NzaC1lZDI1NTE5AAAAIA' },
    };
    await store.update(() => Promise.resolve({ grants: [grant], result: undefined }));
    expect((await stat(file)).size).toBeGreaterThan(0);
    expect(await store.list()).toEqual([grant]);
    await store.update(() => Promise.resolve({ grants: [], result: undefined }));
    expect((await stat(file)).size).toBe(0); // ConditionFileNotEmpty= is false: nothing starts
    expect(await store.list()).toEqual([]);

    // And the command itself is a quiet no-op on an empty file.
    let stdout = '';
    const code = await runCli(
      [
        'ssh-access',
        'expire',
        '--grants-file',
        file,
        '--config',
        join(dir, 'none.yaml'),
        '--audit-file',
        join(dir, 'audit.jsonl'),
        '--root-keys-file',
        join(dir, 'root-keys'),
        '--sshd-runtime-dir',
        'off',
        '--log-level',
        'silent',
      ],
      { stdout: (text) => (stdout += text), stderr: () => undefined },
    );
    expect({ code, stdout }).toEqual({ code: 0, stdout: '' });
  });
});
