// What scenario f of test/vm/ needs on the host: the SSH access granting service's key server
// ("even": HTTPS, GET /public-keys/<user>/sshkey.pub) reachable from the guest at
// 169.254.0.2, key pairs, and `ssh` from the host to the guest's forwarded port 22.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HOST_FROM_GUEST } from './vm.js';

const run = promisify(execFile);

export interface KeyServer {
  /** As the guest reaches it (the host's 127.0.0.1 is 169.254.0.2 there). */
  readonly url: string;
  /** The self-signed certificate, the key server's CA for the guest (ca_file). */
  readonly caPem: string;
  close(): Promise<void>;
}

export async function keygen(dir: string, name: string): Promise<{ privateKey: string; publicKey: string }> {
  const privateKey = join(dir, name);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', privateKey]);
  return { privateKey, publicKey: (await readFile(`${privateKey}.pub`, 'utf8')).trim() };
}

/** An HTTPS key server with a certificate for 169.254.0.2, serving `keys` (user → public key). */
export async function startKeyServer(dir: string, keys: ReadonlyMap<string, string>): Promise<KeyServer> {
  const keyFile = join(dir, 'even-key.pem');
  const certFile = join(dir, 'even-cert.pem');
  await run('openssl', [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
    ...['-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${HOST_FROM_GUEST}`],
    ...['-addext', `subjectAltName=IP:${HOST_FROM_GUEST}`],
  ]);
  const cert = await readFile(certFile, 'utf8');
  const server: Server = createServer({ key: await readFile(keyFile, 'utf8'), cert }, (req, res) => {
    const match = /^\/public-keys\/([^/]+)\/sshkey\.pub$/.exec(req.url ?? '');
    const body = match?.[1] === undefined ? undefined : keys.get(decodeURIComponent(match[1]));
    if (body === undefined) res.writeHead(404).end('not found');
    else res.writeHead(200, { 'content-type': 'text/plain' }).end(`${body}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://${HOST_FROM_GUEST}:${port}`,
    caPem: cert,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/** One `ssh` from the host to the guest (forwarded port); never prompts, trusts no host key file. */
export async function sshToGuest(
  port: number,
  user: string,
  privateKey: string,
  command: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      'ssh',
      [
        ...['-p', String(port), '-i', privateKey, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes'],
        ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'],
        ...['-o', 'ConnectTimeout=60', `${user}@127.0.0.1`, command],
      ],
      { timeout: 120_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
