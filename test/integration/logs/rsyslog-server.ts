// Debian's real rsyslogd as the receiving end of the syslog destination tests: started by the
// test on a free loopback port with its own config, work directory and pid file (imtcp, or imtcp
// with the gtls stream driver for TLS, or imudp), writing what it receives to a file with a
// template that shows the parsed RFC 5424 fields.
import { execFile, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, freePort } from '../../support/test-env.js';

const run = promisify(execFile);

/** What rsyslog parsed, one line per message: fields separated by `|`. */
export const FIELDS = ['pri', 'timestamp', 'hostname', 'app', 'procid', 'msgid', 'sd', 'msg'] as const;
export type ReceivedMessage = Record<(typeof FIELDS)[number], string>;

export interface RsyslogServerOptions {
  readonly protocol: 'tcp' | 'tls' | 'udp';
  readonly maxMessageSize?: number;
}

export interface TlsMaterial {
  readonly dir: string;
  readonly caPem: string;
}

/** A throwaway CA and a server certificate for 127.0.0.1 and localhost, made with openssl. */
export async function makeTlsMaterial(dir: string): Promise<TlsMaterial> {
  const file = (name: string): string => join(dir, name);
  await run('openssl', [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'],
    ...['-keyout', file('ca.key'), '-out', file('ca.pem'), '-subj', '/CN=taupage test CA'],
  ]);
  await run('openssl', [
    ...['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
    ...['-keyout', file('server.key')],
    ...['-out', file('server.csr'), '-subj', '/CN=localhost'],
  ]);
  await writeFile(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', [
    ...['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key')],
    ...['-CAcreateserial', '-days', '1', '-out', file('server.pem'), '-extfile', file('ext.cnf')],
  ]);
  return { dir, caPem: await readFile(file('ca.pem'), 'utf8') };
}

export class RsyslogServer {
  #child: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly output: string,
    private readonly configFile: string,
    private readonly protocol: RsyslogServerOptions['protocol'],
  ) {}

  static async start(options: RsyslogServerOptions, tls?: TlsMaterial): Promise<RsyslogServer> {
    const dir = await mkdtemp(join(tmpdir(), 'taupage-rsyslog-'));
    const port = await freePort();
    const output = join(dir, 'received.log');
    const template = FIELDS.map(
      (f) =>
        ({
          pri: '%pri%',
          timestamp: '%timereported:::date-rfc3339%',
          hostname: '%hostname%',
          app: '%app-name%',
          procid: '%procid%',
          msgid: '%msgid%',
          sd: '%structured-data%',
          msg: '%msg%',
        })[f],
    ).join('|');
    const lines = [
      `global(workDirectory="${dir}"${options.maxMessageSize === undefined ? '' : ` maxMessageSize="${String(options.maxMessageSize)}"`})`,
    ];
    if (options.protocol === 'tls') {
      if (tls === undefined) throw new Error('TLS needs certificates');
      lines.push(
        `global(DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="${tls.dir}/ca.pem" DefaultNetstreamDriverCertFile="${tls.dir}/server.pem" DefaultNetstreamDriverKeyFile="${tls.dir}/server.key")`,
        'module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")',
        `input(type="imtcp" port="${String(port)}" address="127.0.0.1")`,
      );
    } else if (options.protocol === 'tcp') {
      lines.push('module(load="imtcp")', `input(type="imtcp" port="${String(port)}" address="127.0.0.1")`);
    } else {
      lines.push('module(load="imudp")', `input(type="imudp" port="${String(port)}" address="127.0.0.1")`);
    }
    lines.push(
      `template(name="fields" type="string" string="${template}\\n")`,
      // Only what arrives over the network: rsyslogd's own start/stop messages stay out.
      `if $inputname == "imtcp" or $inputname == "imudp" then action(type="omfile" file="${output}" template="fields")`,
    );
    const configFile = join(dir, 'rsyslog.conf');
    await writeFile(configFile, `${lines.join('\n')}\n`);
    await run('rsyslogd', ['-N1', '-f', configFile]);
    const server = new RsyslogServer(dir, port, output, configFile, options.protocol);
    await server.resume();
    return server;
  }

  /** Starts rsyslogd (again, on the same port) and waits until it accepts connections. */
  async resume(): Promise<void> {
    const child = execFile('rsyslogd', ['-n', '-f', this.configFile, '-i', join(this.dir, 'rsyslogd.pid')]);
    child.on('error', () => undefined);
    this.#child = child;
    if (this.protocol === 'udp') {
      await eventually(async () => {
        const pid = await readFile(join(this.dir, 'rsyslogd.pid'), 'utf8').catch(() => '');
        return pid.trim() === '' ? undefined : true;
      }, 'rsyslogd to write its pid file');
      return;
    }
    await eventually(
      () =>
        new Promise<true | undefined>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port: this.port });
          socket.once('connect', () => {
            socket.destroy();
            resolve(true);
          });
          socket.once('error', () => {
            resolve(undefined);
          });
        }),
      `rsyslogd listening on ${String(this.port)}`,
    );
  }

  /** Stops rsyslogd (SIGTERM) and waits for it to exit. */
  async pause(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        resolve();
      });
    });
    child.kill('SIGTERM');
    await exited;
  }

  async stop(): Promise<void> {
    await this.pause();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The messages rsyslog wrote so far. */
  async received(): Promise<ReceivedMessage[]> {
    const text = await readFile(this.output, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => {
        const parts = line.split('|');
        // MSG may itself contain `|`: everything after the 7th separator is the message.
        const fields = [...parts.slice(0, FIELDS.length - 1), parts.slice(FIELDS.length - 1).join('|')];
        return Object.fromEntries(FIELDS.map((f, i) => [f, fields[i] ?? ''])) as ReceivedMessage;
      });
  }
}
