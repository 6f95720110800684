import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/core/redactor.js';
import { Secret } from '../../../src/core/secret.js';
import { FileTailSource } from '../../../src/logs/file-tail-source.js';
import { LogentriesDestination, parseLogentriesEndpoint } from '../../../src/logs/logentries-destination.js';
import { LogPipeline } from '../../../src/logs/log-pipeline.js';
import { cappedClock } from '../../support/capped-clock.js';
import { eventually } from '../../support/test-env.js';
import { makeTlsMaterial, type TlsMaterial } from './rsyslog-server.js';

const log = pino({ level: 'silent' });
const TOKEN = '2bfbea1e-10c3-4419-bdad-7e6435882e1f';

/**
 * A Logentries token input as its documentation describes it (Token TCP): lines over one TCP or
 * TLS connection, each starting with the log's token and a space, which the server takes off.
 * A line without a known token is dropped, as the service drops it.
 */
class TokenInput {
  readonly lines: string[] = [];
  readonly unknown: string[] = [];
  readonly #sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(tls?: TlsMaterial): Promise<TokenInput> {
    const holder: { input?: TokenInput } = {};
    const onSocket = (socket: Socket): void => holder.input?.accept(socket);
    const server =
      tls === undefined
        ? createServer(onSocket)
        : createTlsServer(
            {
              key: await readFile(join(tls.dir, 'server.key')),
              cert: await readFile(join(tls.dir, 'server.pem')),
            },
            onSocket,
          );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    holder.input = new TokenInput(server, typeof address === 'object' && address !== null ? address.port : 0);
    return holder.input;
  }

  private accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => {
      this.#sockets.delete(socket);
    });
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) {
        if (line.startsWith(`${TOKEN} `)) this.lines.push(line.slice(TOKEN.length + 1));
        else this.unknown.push(line);
      }
    });
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }
}

let dir = '';
let tls: TlsMaterial;
const pipelines: LogPipeline[] = [];
const inputs: TokenInput[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-logentries-'));
  tls = await makeTlsMaterial(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(0);
  for (const input of inputs.splice(0)) await input.stop();
});

async function ship(
  endpoint: string,
  lines: string,
  ca?: string,
): Promise<{ file: string; redactor: Redactor }> {
  const work = await mkdtemp(join(dir, 'run-'));
  const file = join(work, 'syslog');
  await writeFile(file, lines);
  const redactor = new Redactor();
  redactor.register(TOKEN);
  const pipeline = await LogPipeline.start({
    stateDir: join(work, 'state'),
    sources: [new FileTailSource({ pattern: file, name: file, log, maskJwt: false, pollIntervalMs: 20 })],
    destinations: [
      new LogentriesDestination({
        endpoint: parseLogentriesEndpoint(endpoint),
        token: new Secret(TOKEN),
        sources: [file],
        ca,
        log,
      }),
    ],
    redactor,
    log,
    clock: cappedClock(20),
    lingerMs: 20,
    spool: { flushIntervalMs: 10 },
  });
  pipelines.push(pipeline);
  return { file, redactor };
}

describe('Logentries: the token-based input', () => {
  it('sends each line with the token in front over plain TCP (tcp://HOST:PORT)', async () => {
    const input = await TokenInput.start();
    inputs.push(input);
    const { file } = await ship(`tcp://127.0.0.1:${String(input.port)}`, 'first line\nsecond line\n');
    await appendFile(file, 'third line\n');
    await eventually(
      () => Promise.resolve(input.lines.length >= 3 ? true : undefined),
      'three lines at the token input',
    );
    expect(input.lines).toEqual(['first line', 'second line', 'third line']);
    expect(input.unknown).toEqual([]);
  });

  it('uses TLS for HOST:PORT (the default), verifying the server certificate', async () => {
    const input = await TokenInput.start(tls);
    inputs.push(input);
    const marker = randomBytes(4).toString('hex');
    await ship(`127.0.0.1:${String(input.port)}`, `over tls ${marker}\n`, tls.caPem);
    await eventually(() => Promise.resolve(input.lines.length >= 1 ? true : undefined), 'the line over TLS');
    expect(input.lines).toEqual([`over tls ${marker}`]);
  });

  it('parses the endpoint setting, refusing what is not HOST:PORT', () => {
    expect(parseLogentriesEndpoint('data.logentries.com:443')).toEqual({
      host: 'data.logentries.com',
      port: 443,
      protocol: 'tls',
    });
    expect(parseLogentriesEndpoint('tcp://127.0.0.1:10000')).toEqual({
      host: '127.0.0.1',
      port: 10000,
      protocol: 'tcp',
    });
    expect(() => parseLogentriesEndpoint('https://data.logentries.com')).toThrow(
      'expected HOST:PORT, tls://HOST:PORT or tcp://HOST:PORT, found "https://data.logentries.com"',
    );
  });
});
