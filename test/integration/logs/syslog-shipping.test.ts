import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/core/redactor.js';
import { FileTailSource } from '../../../src/logs/file-tail-source.js';
import { LogPipeline } from '../../../src/logs/log-pipeline.js';
import { SyslogDestination, type SyslogProtocol } from '../../../src/logs/syslog-destination.js';
import { eventually } from '../../support/test-env.js';
import { makeTlsMaterial, RsyslogServer, type ReceivedMessage, type TlsMaterial } from './rsyslog-server.js';
import { cappedClock } from '../../support/capped-clock.js';

const log = pino({ level: 'silent' });
const quickClock = cappedClock(20);

let dir = '';
let tls: TlsMaterial;
const pipelines: LogPipeline[] = [];
const servers: RsyslogServer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-syslog-'));
  tls = await makeTlsMaterial(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(0);
  for (const server of servers.splice(0)) await server.stop();
});

async function startServer(protocol: SyslogProtocol, maxMessageSize?: number): Promise<RsyslogServer> {
  const server = await RsyslogServer.start(
    { protocol, ...(maxMessageSize === undefined ? {} : { maxMessageSize }) },
    tls,
  );
  servers.push(server);
  return server;
}

async function startPipeline(
  server: RsyslogServer,
  protocol: SyslogProtocol,
  options: { ca?: string; exclude?: RegExp } = {},
): Promise<{ pipeline: LogPipeline; file: string }> {
  const work = await mkdtemp(join(dir, 'run-'));
  const file = join(work, 'app.log');
  const pipeline = await LogPipeline.start({
    stateDir: join(work, 'state'),
    sources: [new FileTailSource({ pattern: file, name: 'app', log, maskJwt: true, pollIntervalMs: 20 })],
    destinations: [
      new SyslogDestination({
        host: '127.0.0.1',
        port: server.port,
        protocol,
        header: { facility: 1, severity: 'notice', hostname: 'ip-10-0-0-1', appName: 'hello', procId: '42' },
        params: [
          ['application_id', 'he said "hi" \\o/ [ok]'],
          ['instance_id', 'i-0syslog'],
        ],
        routes: { app: { label: 'application', exclude: options.exclude } },
        ca: options.ca ?? tls.caPem,
        log,
      }),
    ],
    redactor: new Redactor(),
    log,
    clock: quickClock,
    lingerMs: 20,
    spool: { flushIntervalMs: 10 },
  });
  pipelines.push(pipeline);
  return { pipeline, file };
}

const numbered = (from: number, to: number): string =>
  Array.from({ length: to - from }, (_, i) => `line ${String(from + i)}\n`).join('');

async function received(server: RsyslogServer, count: number): Promise<ReceivedMessage[]> {
  return eventually(
    async () => {
      const messages = await server.received();
      return new Set(messages.map((m) => m.msg)).size >= count ? messages : undefined;
    },
    `${String(count)} messages at rsyslogd`,
    30_000,
  );
}

function missing(messages: readonly ReceivedMessage[], count: number): string[] {
  const seen = new Set(messages.map((m) => m.msg));
  return Array.from({ length: count }, (_, i) => `line ${String(i)}`).filter((line) => !seen.has(line));
}

describe.each(['tcp', 'tls'] as const)(
  'log pipeline → real rsyslogd over %s (RFC 5424, octet counting)',
  (protocol) => {
    it('delivers every line in order with the RFC 5424 header and escaped structured data', async () => {
      const server = await startServer(protocol);
      const { file } = await startPipeline(server, protocol);
      await writeFile(file, numbered(0, 5_000));
      const messages = await received(server, 5_000);
      expect(messages.map((m) => m.msg)).toEqual(
        Array.from({ length: 5_000 }, (_, i) => `line ${String(i)}`),
      );
      expect(messages[0]).toMatchObject({
        pri: '13', // facility user (1) × 8 + notice (5)
        hostname: 'ip-10-0-0-1',
        app: 'hello',
        procid: '42',
        msgid: 'application',
        sd: '[taupage@32473 source="application" application_id="he said \\"hi\\" \\\\o/ [ok\\]" instance_id="i-0syslog"]',
      });
      expect(Number.isNaN(Date.parse(messages[0]?.timestamp ?? ''))).toBe(false);
    });

    it('reconnects with backoff after rsyslogd went away, and loses no line written meanwhile', async () => {
      const server = await startServer(protocol);
      const { pipeline, file } = await startPipeline(server, protocol);
      await writeFile(file, numbered(0, 1_000));
      await received(server, 1_000);
      await server.pause();
      await appendFile(file, numbered(1_000, 3_000));
      await eventually(
        () => Promise.resolve(pipeline.status().destinations[0]?.failing === true ? true : undefined),
        'deliveries failing while rsyslogd is down',
      );
      await server.resume();
      await appendFile(file, numbered(3_000, 4_000));
      const messages = await received(server, 4_000);
      expect(missing(messages, 4_000)).toEqual([]);
      expect(pipeline.status()).toMatchObject({ lostRecords: 0 });
    });
  },
);

describe('syslog destination details against rsyslogd', () => {
  it('refuses a TLS server whose certificate it cannot verify, and sends nothing', async () => {
    const server = await startServer('tls');
    const otherCa = await makeTlsMaterial(await mkdtemp(join(dir, 'other-ca-')));
    const { pipeline, file } = await startPipeline(server, 'tls', { ca: otherCa.caPem });
    await writeFile(file, numbered(0, 10));
    const status = await eventually(() => {
      const destination = pipeline.status().destinations[0];
      return Promise.resolve((destination?.failures ?? 0) >= 2 ? destination : undefined);
    }, 'TLS verification failures');
    expect(status.lastError).toMatch(/certificate/i);
    expect(await server.received()).toEqual([]);
  });

  it('splits a line longer than the maximum message size into messages rsyslogd keeps whole', async () => {
    const server = await startServer('tcp');
    const { file } = await startPipeline(server, 'tcp');
    const long = `${'x'.repeat(20_000)}end`;
    await writeFile(file, `before\n${long}\nafter\n`);
    const messages = await eventually(async () => {
      const all = await server.received();
      return all.at(-1)?.msg === 'after' ? all : undefined;
    }, 'the message after the long line');
    const pieces = messages.slice(1, -1).map((m) => m.msg);
    expect(pieces.length).toBe(3);
    expect(pieces.join('')).toBe(long);
  });

  it('leaves out lines matching the filter (applog_filter_exclude)', async () => {
    const server = await startServer('tcp');
    const { file } = await startPipeline(server, 'tcp', { exclude: /INFO:/ });
    await writeFile(file, 'INFO: noise\nERROR: kept\nline 0\n');
    const messages = await received(server, 2);
    expect(messages.map((m) => m.msg)).toEqual(['ERROR: kept', 'line 0']);
  });

  it('sends one datagram per message over UDP', async () => {
    const server = await startServer('udp');
    const { file } = await startPipeline(server, 'udp');
    await writeFile(file, numbered(0, 200));
    const messages = await received(server, 200);
    expect(missing(messages, 200)).toEqual([]);
    expect(messages[0]).toMatchObject({ pri: '13', app: 'hello', msgid: 'application' });
  });
});
