// A real OpenSSH server on a loopback port, a real ssh client and a local HTTPS "even" key
// server, for the SSH access tests. Everything lives in one temp directory under /run (root-owned
// parents, as sshd's StrictModes demands); users are unique per run and removed afterwards.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, freePort } from '../../support/test-env.js';

export const run = promisify(execFile);

export function uniqueUser(prefix = 'tp'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export async function keygen(dir: string, name: string): Promise<{ privateKey: string; publicKey: string }> {
  const privateKey = join(dir, name);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', privateKey]);
  return { privateKey, publicKey: await readFile(`${privateKey}.pub`, 'utf8') };
}

export interface SshFixture {
  readonly dir: string;
  readonly port: number;
  /** sshd's own log (-e): the "auth log" the watcher tails. */
  readonly authLog: string;
  readonly rootKeysFile: string;
  /** Included by sshd's config first: the disk-full fallback's root-login switch writes here. */
  readonly runtimeDir: string;
  readonly pidFile: string;
  readonly configFile: string;
  readonly keyServerUrl: string;
  /** What the key server answers per user (a public key line, or anything hostile). */
  readonly keys: Map<string, string>;
  readonly createdUsers: Set<string>;
  stop(): Promise<void>;
}

async function selfSignedCert(dir: string): Promise<{ key: string; cert: string }> {
  const keyFile = join(dir, 'even-key.pem');
  const certFile = join(dir, 'even-cert.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
}

export async function startSshFixture(): Promise<SshFixture> {
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation dir
  const dir = await mkdtemp('/run/taupage-ssh-test-');
  const rootKeysDir = join(dir, 'root-keys');
  await mkdir(rootKeysDir, { mode: 0o700 });
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);

  const keys = new Map<string, string>();
  const { key, cert } = await selfSignedCert(dir);
  const keyServer: Server = createServer({ key, cert }, (req, res) => {
    const match = /^\/public-keys\/([^/]+)\/sshkey\.pub$/.exec(req.url ?? '');
    const body = match?.[1] === undefined ? undefined : keys.get(decodeURIComponent(match[1]));
    if (body === undefined) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
  });
  await new Promise<void>((resolve) => keyServer.listen(0, '127.0.0.1', resolve));
  const keyServerUrl = `https://127.0.0.1:${(keyServer.address() as AddressInfo).port}`;
  await writeFile(join(dir, 'even-ca.pem'), cert);
  const configFile = join(dir, 'ssh-access-granting-service.yaml');
  await writeFile(
    configFile,
    `ssh_access_granting_service_url: ${keyServerUrl}\nuser_groups:\n  - users\nca_file: ${join(dir, 'even-ca.pem')}\n`,
  );

  const port = await freePort();
  const authLog = join(dir, 'sshd.log');
  const sshdConfig = join(dir, 'sshd_config');
  // Hardened like the AMI's sshd (see src/ssh/sshd-drop-in.ts): no root logins unless the
  // runtime dir says so (the disk-full fallback); root's keys come from a file in the temp dir
  // only (the tmpfs fallback), so the test never touches the real /root/.ssh.
  const runtimeDir = join(dir, 'sshd-runtime');
  await writeFile(
    sshdConfig,
    [
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `Include ${runtimeDir}/*.conf`,
      'PermitRootLogin no',
      'UsePAM yes',
      'LogLevel VERBOSE',
      'Match User root',
      `  AuthorizedKeysFile ${join(rootKeysDir, '%u')}`,
      'Match all',
      '  AuthorizedKeysFile .ssh/authorized_keys',
      '',
    ].join('\n'),
  );
  const logFile = openSync(authLog, 'a');
  const sshd: ChildProcess = spawn(
    '/usr/sbin/sshd',
    ['-D', '-e', '-f', sshdConfig, '-p', String(port), '-o', 'ListenAddress=127.0.0.1'],
    { stdio: ['ignore', logFile, logFile] },
  );
  closeSync(logFile);
  await eventually(
    async () => ((await readFile(authLog, 'utf8')).includes('Server listening') ? true : undefined),
    'sshd to listen',
    10_000,
  );

  const createdUsers = new Set<string>();
  return {
    dir,
    port,
    authLog,
    rootKeysFile: join(rootKeysDir, 'root'),
    runtimeDir,
    pidFile: join(dir, 'sshd.pid'),
    configFile,
    keyServerUrl,
    keys,
    createdUsers,
    async stop() {
      for (const user of createdUsers) {
        await run('pkill', ['-KILL', '-u', user]).catch(() => undefined);
        await run('userdel', ['-r', user]).catch(() => undefined);
      }
      sshd.kill('SIGTERM');
      keyServer.closeAllConnections();
      await new Promise<void>((resolve) => {
        keyServer.close(() => {
          resolve();
        });
      });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One ssh login running `command`; never prompts, never trusts a host key file. */
export async function sshRun(
  fixture: SshFixture,
  user: string,
  privateKey: string,
  command = 'echo granted-ok',
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      'ssh',
      [
        '-p',
        String(fixture.port),
        '-i',
        privateKey,
        '-o',
        'BatchMode=yes',
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'LogLevel=ERROR',
        '-o',
        'ConnectTimeout=5',
        `${user}@127.0.0.1`,
        command,
      ],
      { timeout: 15_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** A long-running session (`sleep`), to see revoke end it. */
export function sshSession(fixture: SshFixture, user: string, privateKey: string): ChildProcess {
  return spawn(
    'ssh',
    [
      '-p',
      String(fixture.port),
      '-i',
      privateKey,
      '-o',
      'BatchMode=yes',
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
      `${user}@127.0.0.1`,
      'echo session-open; exec sleep 300',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
}
