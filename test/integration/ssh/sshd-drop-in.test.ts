import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applySshdDropIn, DROP_IN_NAME, removeInstanceUserKeys } from '../../../src/ssh/sshd-drop-in.js';
import { eventually, freePort } from '../../support/test-env.js';
import { run } from './ssh-fixture.js';

let dir: string;
let mainConfig: string;
let dropInDir: string;
let sshd: ChildProcess | undefined;

beforeAll(async () => {
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  dir = await mkdtemp('/run/taupage-sshd-test-');
  dropInDir = join(dir, 'sshd_config.d');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  mainConfig = join(dir, 'sshd_config');
  // Like Debian's sshd_config: the drop-ins are included first, so their values win.
  await writeFile(
    mainConfig,
    `Include ${dropInDir}/*.conf\nHostKey ${join(dir, 'host_key')}\nPidFile ${join(dir, 'sshd.pid')}\nListenAddress 127.0.0.1\nUsePAM yes\n`,
  );
});
afterAll(async () => {
  sshd?.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
});

/** The SSH banner on a port, or undefined when nothing answers. */
function banner(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(2_000);
    socket.once('data', (data: Buffer) => {
      socket.destroy();
      resolve(data.toString('utf8'));
    });
    socket.once('error', () => {
      resolve(undefined);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(undefined);
    });
  });
}

describe('the sshd drop-in from ssh_ports / ssh_gateway_ports (real sshd)', () => {
  it('is installed after sshd -t, and a reload moves sshd to the new port', async () => {
    const first = await freePort();
    expect(
      await applySshdDropIn(
        { ports: [first], gatewayPorts: 'no' },
        { dir: dropInDir, mainConfig, reload: [] },
      ),
    ).toBe(true);
    const effective = (await run('/usr/sbin/sshd', ['-T', '-f', mainConfig])).stdout;
    expect(effective).toContain(`port ${first}\n`);
    expect(effective).toContain('passwordauthentication no\n');
    expect(effective).toContain('permitrootlogin without-password\n');
    expect(effective).toContain('gatewayports no\n');

    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', mainConfig], { stdio: 'ignore' });
    await eventually(
      async () => ((await banner(first))?.startsWith('SSH-2.0-OpenSSH') ? true : undefined),
      'sshd on the first port',
    );

    const second = await freePort();
    const pid = (await eventually(() => readFile(join(dir, 'sshd.pid'), 'utf8'), 'the pid file')).trim();
    expect(
      await applySshdDropIn(
        { ports: [second], gatewayPorts: 'clientspecified' },
        { dir: dropInDir, mainConfig, reload: ['kill', '-HUP', pid] },
      ),
    ).toBe(true);
    await eventually(
      async () => ((await banner(second))?.startsWith('SSH-2.0-OpenSSH') ? true : undefined),
      'sshd on the second port',
    );
    // Unchanged values: no rewrite, no reload.
    expect(
      await applySshdDropIn(
        { ports: [second], gatewayPorts: 'clientspecified' },
        { dir: dropInDir, mainConfig, reload: ['false'] },
      ),
    ).toBe(false);
  });

  it('keeps the previous drop-in when sshd -t refuses the new one', async () => {
    const before = await readFile(join(dropInDir, DROP_IN_NAME), 'utf8');
    await expect(
      applySshdDropIn(
        { ports: [2222] },
        { dir: dropInDir, mainConfig, sshd: '/bin/false', reload: ['false'] },
      ),
    ).rejects.toMatchObject({ code: 'SSHD_CONFIG_INVALID' });
    expect(await readFile(join(dropInDir, DROP_IN_NAME), 'utf8')).toBe(before);
  });

  it('keep_instance_users: false removes the cloud user’s authorized_keys', async () => {
    const home = join(dir, 'home-admin');
    await mkdir(join(home, '.ssh'), { recursive: true });
    await writeFile(join(home, '.ssh', 'authorized_keys'), 'ssh-ed25519 AAAA launch-key\n');
    expect(await removeInstanceUserKeys([home, join(dir, 'no-such-home')])).toEqual([
      join(home, '.ssh', 'authorized_keys'),
    ]);
    await expect(readFile(join(home, '.ssh', 'authorized_keys'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
