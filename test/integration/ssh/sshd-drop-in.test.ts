import { spawn, type ChildProcess } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import { configureHostSsh, type HostSshSettings } from '../../../src/ssh/configure-host-ssh.js';
import { RootLoginSwitch } from '../../../src/ssh/root-login-switch.js';
import { applySshdDropIn, DROP_IN_NAME } from '../../../src/ssh/sshd-drop-in.js';
import { PidFileSshdReloader } from '../../../src/ssh/sshd-reloader.js';
import { eventually, freePort } from '../../support/test-env.js';
import { run } from './ssh-fixture.js';

const log = createLogger({ level: 'silent', redactor: new Redactor() });
let dir: string;
let mainConfig: string;
let dropInDir: string;
let runtimeDir: string;
let pidFile: string;
let sshd: ChildProcess | undefined;

/** The AMI's hardening drop-in, exactly as ami/50-sshd.sh writes it. */
async function amiHardening(): Promise<string> {
  const script = await readFile(fileURLToPath(new URL('../../../ami/50-sshd.sh', import.meta.url)), 'utf8');
  const match = /<<'SSHD'\n([\s\S]*?)\nSSHD\n/.exec(script);
  if (match?.[1] === undefined) throw new Error('ami/50-sshd.sh has no SSHD heredoc');
  return `${match[1]}\n`;
}

function settings(extra: Partial<HostSshSettings> = {}): HostSshSettings {
  return {
    configDir: dropInDir,
    mainConfig,
    pidFile,
    runtimeDir,
    instanceUserHomes: [],
    rootKeysFile: join(dir, 'root', '.ssh', 'authorized_keys'),
    rootKeysTmpfsFile: undefined,
    ...extra,
  };
}

/** `sshd -T`: the effective settings, keyword → value (lower case). */
async function effective(): Promise<Map<string, string>> {
  const { stdout } = await run('/usr/sbin/sshd', ['-T', '-f', mainConfig]);
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const space = line.indexOf(' ');
    if (space > 0 && !values.has(line.slice(0, space)))
      values.set(line.slice(0, space), line.slice(space + 1));
  }
  return values;
}

beforeAll(async () => {
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  dir = await mkdtemp('/run/taupage-sshd-test-');
  dropInDir = join(dir, 'sshd_config.d');
  runtimeDir = join(dir, 'runtime');
  pidFile = join(dir, 'sshd.pid');
  await mkdir(dropInDir);
  await writeFile(join(dropInDir, '50-taupage.conf'), await amiHardening());
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  mainConfig = join(dir, 'sshd_config');
  // Like Debian's sshd_config: the drop-ins are included first, so their values win.
  await writeFile(
    mainConfig,
    `Include ${dropInDir}/*.conf\nHostKey ${join(dir, 'host_key')}\nPidFile ${pidFile}\nListenAddress 127.0.0.1\nUsePAM yes\n`,
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

const listening = (port: number) =>
  eventually(
    async () => ((await banner(port))?.startsWith('SSH-2.0-OpenSSH') ? true : undefined),
    `sshd on port ${port}`,
  );

describe('the sshd drop-in from ssh_ports / ssh_gateway_ports (real sshd, the AMI’s hardening)', () => {
  it('is checked by sshd -t, keeps the AMI’s hardening, and a reload moves sshd to the new ports', async () => {
    const first = await freePort();
    const failed = await configureHostSsh(
      { sshPorts: [first], sshGatewayPorts: undefined, keepInstanceUsers: true },
      settings({ pidFile: join(dir, 'no-sshd-yet.pid') }),
      log,
    ).catch((error: unknown) => error);
    // Nothing runs yet, so the reload fails: not applied, the file is taken back (and the next
    // attempt reloads again instead of trusting a file sshd never read).
    expect(failed).toMatchObject({ code: 'SSHD_RELOAD_FAILED' });
    await expect(readFile(join(dropInDir, DROP_IN_NAME))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(
      await applySshdDropIn(
        { ports: [first] },
        { dir: dropInDir, mainConfig, runtimeDir, reload: undefined },
      ),
    ).toBe(true);
    let values = await effective();
    expect(values.get('port')).toBe(String(first));
    // Never weaker than ami/50-sshd.sh: no root, no passwords, no forwarding.
    expect(values.get('permitrootlogin')).toBe('no');
    expect(values.get('passwordauthentication')).toBe('no');
    expect(values.get('allowtcpforwarding')).toBe('no');
    expect(values.get('gatewayports')).toBe('no');
    expect(values.get('x11forwarding')).toBe('no');
    expect(values.get('loglevel')).toBe('VERBOSE');

    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', mainConfig], { stdio: 'ignore' });
    await listening(first);
    await eventually(() => readFile(pidFile, 'utf8'), 'the pid file');

    const second = await freePort();
    const third = await freePort();
    const changed = await configureHostSsh(
      { sshPorts: [second, third], sshGatewayPorts: 'clientspecified', keepInstanceUsers: true },
      settings(),
      log,
    );
    expect(changed.dropInChanged).toBe(true);
    await listening(second);
    await listening(third);
    await eventually(
      async () => ((await banner(first)) === undefined ? true : undefined),
      'the old port closed',
    );
    values = await effective();
    expect(values.get('gatewayports')).toBe('clientspecified');
    // Reverse tunnels only: ssh_gateway_ports is the one opt-in that opens forwarding.
    expect(values.get('allowtcpforwarding')).toBe('remote');
    expect(values.get('permitrootlogin')).toBe('no');

    // Unchanged values: no rewrite, no reload (a reload would fail: the pid file is wrong).
    const again = await configureHostSsh(
      { sshPorts: [second, third], sshGatewayPorts: 'clientspecified', keepInstanceUsers: true },
      settings({ pidFile: join(dir, 'missing.pid') }),
      log,
    );
    expect(again.dropInChanged).toBe(false);
  });

  it('allows root logins by key only while the disk-full switch is on', async () => {
    const root = new RootLoginSwitch(runtimeDir, new PidFileSshdReloader(pidFile));
    await root.allow();
    expect((await effective()).get('permitrootlogin')).toBe('without-password');
    await root.forbid();
    expect((await effective()).get('permitrootlogin')).toBe('no');
    await root.forbid(); // already off: nothing to do
  });

  it('keeps the previous drop-in when sshd -t refuses the new one', async () => {
    const before = await readFile(join(dropInDir, DROP_IN_NAME), 'utf8');
    await expect(
      applySshdDropIn(
        { ports: [2222] },
        { dir: dropInDir, mainConfig, sshd: '/bin/false', reload: undefined },
      ),
    ).rejects.toMatchObject({ code: 'SSHD_CONFIG_INVALID' });
    expect(await readFile(join(dropInDir, DROP_IN_NAME), 'utf8')).toBe(before);
  });

  it('keep_instance_users: false removes the cloud user’s keys; true keeps them', async () => {
    const home = join(dir, 'home-admin');
    const keys = join(home, '.ssh', 'authorized_keys');
    await mkdir(join(home, '.ssh'), { recursive: true });
    await writeFile(keys, 'ssh-ed25519 AAAA launch-key\n');
    const current = await effective();
    const config = { sshPorts: [Number(current.get('port'))], sshGatewayPorts: 'clientspecified' as const };
    const homes = settings({ instanceUserHomes: [home, join(dir, 'no-such-home')] });
    expect((await configureHostSsh({ ...config, keepInstanceUsers: true }, homes, log)).removedKeys).toEqual(
      [],
    );
    expect(await readFile(keys, 'utf8')).toContain('launch-key');
    expect((await configureHostSsh({ ...config, keepInstanceUsers: false }, homes, log)).removedKeys).toEqual(
      [keys],
    );
    await expect(readFile(keys)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('moves root’s authorized_keys into tmpfs (a symlink), keeping its lines, once', async () => {
    const rootKeysFile = join(dir, 'root', '.ssh', 'authorized_keys');
    const tmpfsFile = join(dir, 'tmpfs-root', 'authorized_keys');
    await mkdir(join(dir, 'root', '.ssh'), { recursive: true });
    await writeFile(rootKeysFile, 'no-pty ssh-ed25519 AAAA cloud-init\n');
    const current = await effective();
    const config = {
      sshPorts: [Number(current.get('port'))],
      sshGatewayPorts: 'clientspecified' as const,
      keepInstanceUsers: true,
    };
    const withTmpfs = settings({ rootKeysFile, rootKeysTmpfsFile: tmpfsFile });
    expect((await configureHostSsh(config, withTmpfs, log)).rootKeysLinked).toBe(true);
    expect((await lstat(rootKeysFile)).isSymbolicLink()).toBe(true);
    expect(await readlink(rootKeysFile)).toBe(tmpfsFile);
    expect(await readFile(rootKeysFile, 'utf8')).toBe('no-pty ssh-ed25519 AAAA cloud-init\n');
    expect((await lstat(tmpfsFile)).mode & 0o777).toBe(0o600);
    expect((await configureHostSsh(config, withTmpfs, log)).rootKeysLinked).toBe(false);
  });
});
