import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/core/redactor.js';
import { AwsCloudWatchLogsDestination } from '../../../src/logs/aws-cloudwatch-logs-destination.js';
import { FileTailSource } from '../../../src/logs/file-tail-source.js';
import { JWT_REDACTED, MAX_MESSAGE_BYTES } from '../../../src/logs/log-message.js';
import { LogPipeline } from '../../../src/logs/log-pipeline.js';
import { recordBatch } from '../../../src/logs/spool-records.js';
import { CloudWatchLogsEmulator } from '../../emulators/cloudwatch-logs-emulator.js';
import { eventually } from '../../support/test-env.js';
import { cappedClock } from '../../support/capped-clock.js';

const GROUP = '/taupage/app';
const INSTANCE = 'i-0123456789abcdef0';
const log = pino({ level: 'silent' });
// Real time, but no backoff longer than 20 ms: the retry policies are exercised, not waited out.
const quickClock = cappedClock(20);

let emulator: CloudWatchLogsEmulator;
let dir = '';
const pipelines: LogPipeline[] = [];

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDLOGSTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'logs-test-secret';
  emulator = await CloudWatchLogsEmulator.start({
    credentials: [{ accessKeyId: 'AKIDLOGSTEST', secretAccessKey: 'logs-test-secret' }],
  });
});
afterAll(async () => {
  await emulator.close();
});
afterEach(async () => {
  emulator.setOutage(false);
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(0);
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
});

async function startPipeline(
  options: {
    group?: string;
    file?: string;
    redactor?: Redactor;
    endpoint?: string;
    maxDiskBytes?: number;
  } = {},
): Promise<{ pipeline: LogPipeline; file: string; group: string }> {
  if (!dir) dir = await mkdtemp(join(tmpdir(), 'taupage-logs-'));
  const file = options.file ?? join(dir, 'app.log');
  const group = options.group ?? `${GROUP}/${Math.random().toString(36).slice(2)}`;
  const pipeline = await LogPipeline.start({
    stateDir: join(dir, 'state'),
    sources: [new FileTailSource({ pattern: file, name: 'app', log, maskJwt: true, pollIntervalMs: 20 })],
    destinations: [
      new AwsCloudWatchLogsDestination({
        region: emulator.region,
        endpoint: options.endpoint ?? emulator.url,
        routes: { app: { logGroup: group, logStream: INSTANCE } },
        log,
        clock: quickClock,
      }),
    ],
    redactor: options.redactor ?? new Redactor(),
    log,
    clock: quickClock,
    lingerMs: 20,
    spool: {
      flushIntervalMs: 10,
      ...(options.maxDiskBytes === undefined
        ? {}
        : { maxDiskBytes: options.maxDiskBytes, segmentBytes: 4096 }),
    },
  });
  pipelines.push(pipeline);
  return { pipeline, file, group };
}

const numbered = (from: number, to: number): string =>
  Array.from({ length: to - from }, (_, i) => `line ${from + i}\n`).join('');

async function received(group: string, count: number): Promise<string[]> {
  return eventually(async () => {
    const messages = emulator.events(group, INSTANCE).map((e) => e.message);
    return Promise.resolve(new Set(messages).size >= count ? messages : undefined);
  }, `${count} distinct events in ${group}`);
}

function assertNoGaps(messages: readonly string[], count: number): void {
  const seen = new Set(messages);
  const missing = Array.from({ length: count }, (_, i) => `line ${i}`).filter((line) => !seen.has(line));
  expect(missing).toEqual([]);
}

describe('log pipeline → CloudWatch Logs emulator (real SDK)', () => {
  it('creates the group and stream at the first delivery and ships every line in order, within the limits', async () => {
    const { file, group } = await startPipeline();
    await writeFile(file, numbered(0, 25_000));
    const messages = await received(group, 25_000);
    expect(messages).toEqual(Array.from({ length: 25_000 }, (_, i) => `line ${i}`));
    expect(emulator.streams(group)).toEqual([INSTANCE]);
    expect(emulator.violations).toEqual([]);
    expect(emulator.maxBatchEvents).toBeLessThanOrEqual(10_000);
  });

  it('creates the group and stream on ResourceNotFound when they are missing at a delivery', async () => {
    const group = `${GROUP}/lazy-${Math.random().toString(36).slice(2)}`;
    const destination = new AwsCloudWatchLogsDestination({
      region: emulator.region,
      endpoint: emulator.url,
      routes: { app: { logGroup: group, logStream: INSTANCE } },
      log,
      clock: quickClock,
    });
    try {
      const before = emulator.calls.PutLogEvents ?? 0;
      const records = [{ source: 'app', timestamp: Date.now(), message: 'first' }];
      expect(await destination.deliver(recordBatch(records), new AbortController().signal)).toEqual({
        rejected: 0,
      });
      expect(emulator.events(group, INSTANCE).map((e) => e.message)).toEqual(['first']);
      // The first PutLogEvents found no stream, the second (after the creates) was accepted.
      expect((emulator.calls.PutLogEvents ?? 0) - before).toBe(2);
    } finally {
      await destination.close();
    }
  });

  it('loses nothing when the destination is down, throttles and fails with 5xx, then recovers', async () => {
    const { pipeline, file, group } = await startPipeline();
    emulator.createLogGroup(group);
    emulator.setOutage('refuse');
    await writeFile(file, numbered(0, 5_000));
    await eventually(
      () => Promise.resolve(pipeline.status().destinations[0]?.failing === true ? true : undefined),
      'deliveries failing during the outage',
    );
    await appendFile(file, numbered(5_000, 10_000));
    emulator.setOutage('unavailable');
    await eventually(
      () => Promise.resolve((pipeline.status().destinations[0]?.failures ?? 0) >= 3 ? true : undefined),
      'more failed deliveries',
    );
    emulator.setOutage(false);
    emulator.throttleNext(3);
    emulator.failNext(2);
    const messages = await received(group, 10_000);
    assertNoGaps(messages, 10_000);
    const status = pipeline.status();
    expect(status.lostRecords).toBe(0);
    expect(status.destinations[0]).toMatchObject({ failing: false, dropped: 0, rejected: 0 });
    expect(emulator.violations).toEqual([]);
  });

  it('splits a 2 MB line into events of at most 1 MB that join back into the line', async () => {
    const { file, group } = await startPipeline();
    const long = 'x'.repeat(2 * 1024 * 1024 - 10) + 'end-marker';
    await writeFile(file, `before\n${long}\nafter\n`);
    const messages = await received(group, 3);
    await eventually(
      () => Promise.resolve(emulator.events(group, INSTANCE).length >= 5 ? true : undefined),
      '5 events',
    );
    const all = emulator.events(group, INSTANCE).map((e) => e.message);
    expect(all[0]).toBe('before');
    expect(all.at(-1)).toBe('after');
    const pieces = all.slice(1, -1);
    expect(pieces.length).toBe(3);
    for (const piece of pieces) expect(Buffer.byteLength(piece)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(pieces.join('')).toBe(long);
    expect(messages.length).toBeGreaterThan(0);
    expect(emulator.violations).toEqual([]);
  });

  it('replaces invalid UTF-8 with U+FFFD so CloudWatch accepts the line', async () => {
    const { file, group } = await startPipeline();
    await writeFile(
      file,
      Buffer.concat([
        Buffer.from('bad '),
        Buffer.from([0xff, 0xc3, 0x28, 0xed, 0xa0, 0x80]),
        Buffer.from(' end\nok\n'),
      ]),
    );
    const messages = await received(group, 2);
    expect(messages[0]).toMatch(/^bad \uFFFD+\( ?\uFFFD* end$/u);
    expect(messages[1]).toBe('ok');
    expect(emulator.violations).toEqual([]);
  });

  it('masks JWTs and never ships a registered secret', async () => {
    const redactor = new Redactor();
    redactor.register('s3cr3t-db-password');
    const { file, group } = await startPipeline({ redactor });
    const jwt =
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
    await writeFile(file, `token=${jwt} rest\npassword is s3cr3t-db-password!\n`);
    const messages = await received(group, 2);
    expect(messages[0]).toBe(`token=${JWT_REDACTED} rest`);
    expect(messages[1]).toBe('password is [redacted]!');
    expect(messages.join('\n')).not.toContain('s3cr3t');
  });

  it('resumes after a restart of the shipper mid-way: no gaps, duplicates bounded', async () => {
    const first = await startPipeline();
    emulator.createLogGroup(first.group);
    await writeFile(first.file, numbered(0, 20_000));
    await eventually(
      () => Promise.resolve(emulator.events(first.group, INSTANCE).length >= 1 ? true : undefined),
      'the first events',
    );
    // Stop at once (no time to drain): the rest waits in the spool and in the file.
    emulator.setOutage('refuse');
    await first.pipeline.stop(0);
    pipelines.splice(pipelines.indexOf(first.pipeline), 1);
    await appendFile(first.file, numbered(20_000, 30_000));
    emulator.setOutage(false);
    await startPipeline({ group: first.group, file: first.file });
    const messages = await received(first.group, 30_000);
    assertNoGaps(messages, 30_000);
    // At-least-once: only lines that were in the spool unacknowledged at the stop come again
    // (under load the SDK may also have resent a request whose answer came late). Lines written
    // after the stop come exactly once: the restarted pipeline resumed from its checkpoints.
    const counts = new Map<string, number>();
    for (const message of messages) counts.set(message, (counts.get(message) ?? 0) + 1);
    const repeated = [...counts].filter(([, count]) => count > 1).map(([line]) => Number(line.split(' ')[1]));
    expect(repeated.filter((line) => line >= 20_000)).toEqual([]);
    expect(messages.length - 30_000).toBeLessThanOrEqual(2 * 20_000);
  });

  it('counts what it drops when the spool is full, and keeps the other destination going', async () => {
    dir = await mkdtemp(join(tmpdir(), 'taupage-logs-'));
    const file = join(dir, 'app.log');
    const healthyGroup = `${GROUP}/healthy`;
    const down = await CloudWatchLogsEmulator.start();
    down.setOutage('refuse');
    const destination = (name: string, endpoint: string, logGroup: string): AwsCloudWatchLogsDestination =>
      new AwsCloudWatchLogsDestination({
        name,
        region: emulator.region,
        endpoint,
        routes: { app: { logGroup, logStream: INSTANCE } },
        log,
        clock: quickClock,
      });
    const pipeline = await LogPipeline.start({
      stateDir: join(dir, 'state'),
      sources: [new FileTailSource({ pattern: file, name: 'app', log, pollIntervalMs: 20 })],
      destinations: [
        destination('down', down.url, GROUP),
        destination('healthy', emulator.url, healthyGroup),
      ],
      redactor: new Redactor(),
      log,
      clock: quickClock,
      lingerMs: 20,
      // Records a destination has not acknowledged go to disk after 10 ms (not a second): writes
      // stay small next to the tiny disk bound, as they would be next to 256 MiB.
      spool: { flushIntervalMs: 10, holdMs: 10, maxDiskBytes: 64 * 1024, segmentBytes: 16 * 1024 },
    });
    pipelines.push(pipeline);
    try {
      // The failing destination holds its first delivery in memory and retries it; what comes
      // after piles up in the spool until the disk bound drops the oldest segments. Lines come in
      // steps of 500 (17 KB), which the healthy destination keeps up with under the tiny bound.
      await writeFile(file, numbered(0, 1_000));
      await eventually(
        () => Promise.resolve(pipeline.status().destinations[0]?.failing === true ? true : undefined),
        'the down destination failing',
      );
      for (let from = 1_000; from < 6_000; from += 500) {
        await appendFile(file, numbered(from, from + 500));
        await received(healthyGroup, from + 500);
      }
      assertNoGaps(await received(healthyGroup, 6_000), 6_000);
      for (let from = 6_000; from < 12_000; from += 500) {
        await appendFile(file, numbered(from, from + 500));
        await received(healthyGroup, from + 500);
      }
      assertNoGaps(await received(healthyGroup, 12_000), 12_000);
      const status = await eventually(() => {
        const s = pipeline.status();
        return Promise.resolve((s.destinations[0]?.dropped ?? 0) > 0 ? s : undefined);
      }, 'drops counted');
      expect(status.destinations.map((d) => d.name)).toEqual(['down', 'healthy']);
      expect(status.destinations[1]?.dropped).toBe(0);
      expect(status.lostRecords).toBe(status.destinations[0]?.dropped);
      expect(status.spool.diskBytes).toBeLessThanOrEqual(64 * 1024 + 16 * 1024);
    } finally {
      await pipeline.stop(0);
      pipelines.splice(pipelines.indexOf(pipeline), 1);
      await down.close();
    }
  });
});
