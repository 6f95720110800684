// The CloudWatch Logs call budget of one instance (docs/fleet.md): no CreateLogGroup unless
// CloudWatch says the group is missing, at most one accepted CreateLogStream per stream, made on
// the first delivery, and records that wait in the spool until their stream exists.
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/core/clock.js';
import { Redactor } from '../../../src/core/redactor.js';
import { AwsCloudWatchLogsDestination } from '../../../src/logs/aws-cloudwatch-logs-destination.js';
import { FileTailSource } from '../../../src/logs/file-tail-source.js';
import { LogPipeline } from '../../../src/logs/log-pipeline.js';
import { recordBatch } from '../../../src/logs/spool-records.js';
import { CloudWatchLogsEmulator } from '../../emulators/cloudwatch-logs-emulator.js';
import { cappedClock } from '../../support/capped-clock.js';
import { eventually } from '../../support/test-env.js';

const INSTANCE = 'i-0f1ee7000000000aa';
const log = pino({ level: 'silent' });
const quickClock = cappedClock(20);

let emulator: CloudWatchLogsEmulator;
let dir = '';
const pipelines: LogPipeline[] = [];

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDFLEETTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'fleet-test-secret';
  emulator = await CloudWatchLogsEmulator.start({
    credentials: [{ accessKeyId: 'AKIDFLEETTEST', secretAccessKey: 'fleet-test-secret' }],
  });
});
afterAll(async () => {
  await emulator.close();
});
afterEach(async () => {
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(0);
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
});

const newGroup = (): string => `/taupage/fleet/${Math.random().toString(36).slice(2)}`;

function destination(group: string, clock: Clock = quickClock): AwsCloudWatchLogsDestination {
  return new AwsCloudWatchLogsDestination({
    region: emulator.region,
    endpoint: emulator.url,
    routes: { app: { logGroup: group, logStream: INSTANCE } },
    log,
    clock,
  });
}

async function startPipeline(group: string): Promise<{ pipeline: LogPipeline; file: string }> {
  if (!dir) dir = await mkdtemp(join(tmpdir(), 'taupage-fleet-'));
  const file = join(dir, 'app.log');
  const pipeline = await LogPipeline.start({
    stateDir: join(dir, 'state'),
    sources: [new FileTailSource({ pattern: file, name: 'app', log, pollIntervalMs: 20 })],
    destinations: [destination(group)],
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
  Array.from({ length: to - from }, (_, i) => `line ${from + i}\n`).join('');

async function received(group: string, count: number): Promise<string[]> {
  return eventually(async () => {
    const messages = emulator.events(group, INSTANCE).map((e) => e.message);
    return Promise.resolve(new Set(messages).size >= count ? messages : undefined);
  }, `${count} distinct events in ${group}`);
}

/** Calls per operation since `before` (a snapshot of emulator.calls). */
function callsSince(before: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const op of ['CreateLogGroup', 'CreateLogStream', 'PutLogEvents'])
    delta[op] = (emulator.calls[op] ?? 0) - (before[op] ?? 0);
  return delta;
}

describe('CloudWatch Logs at fleet scale: the per-instance call budget', () => {
  it('creates nothing before the first delivery, only waits a spread offset below the spread', async () => {
    const group = newGroup();
    const slept: number[] = [];
    const recording: Clock = {
      now: () => Date.now(),
      sleep: (ms) => {
        slept.push(ms);
        return Promise.resolve();
      },
    };
    const before = { ...emulator.calls };
    const shipper = destination(group, recording);
    try {
      await shipper.prepare(new AbortController().signal);
      expect(callsSince(before)).toEqual({ CreateLogGroup: 0, CreateLogStream: 0, PutLogEvents: 0 });
      expect(emulator.groupNames()).not.toContain(group);
      expect(slept).toHaveLength(1);
      expect(slept[0]).toBeGreaterThanOrEqual(0);
      expect(slept[0]).toBeLessThan(5_000);
    } finally {
      await shipper.close();
    }
  });

  it('calls no CreateLogGroup when the group exists, and one CreateLogStream on the first delivery', async () => {
    const group = newGroup();
    emulator.createLogGroup(group);
    const before = { ...emulator.calls };
    const { file } = await startPipeline(group);
    await writeFile(file, numbered(0, 500));
    expect(await received(group, 500)).toEqual(Array.from({ length: 500 }, (_, i) => `line ${i}`));
    const calls = callsSince(before);
    expect(calls.CreateLogGroup).toBe(0);
    expect(calls.CreateLogStream).toBe(1);
    // The first put found no stream; everything after went to the stream it created.
    expect(emulator.streams(group)).toEqual([INSTANCE]);
  });

  it('calls CreateLogGroup once, only after CreateLogStream said the group is missing', async () => {
    const group = newGroup();
    const before = { ...emulator.calls };
    const { file } = await startPipeline(group);
    await writeFile(file, numbered(0, 100));
    await received(group, 100);
    expect(callsSince(before)).toMatchObject({ CreateLogGroup: 1, CreateLogStream: 2 });
  });

  it('creates nothing after a restart: the stream is there, the first put succeeds', async () => {
    const group = newGroup();
    emulator.createLogGroup(group);
    const first = await startPipeline(group);
    await writeFile(first.file, numbered(0, 10));
    await received(group, 10);
    await first.pipeline.stop(0);
    pipelines.splice(pipelines.indexOf(first.pipeline), 1);
    const before = { ...emulator.calls };
    const shipper = destination(group);
    try {
      await shipper.deliver(
        recordBatch([{ source: 'app', timestamp: Date.now(), message: 'after restart' }]),
        new AbortController().signal,
      );
    } finally {
      await shipper.close();
    }
    expect(callsSince(before)).toEqual({ CreateLogGroup: 0, CreateLogStream: 0, PutLogEvents: 1 });
  });

  it('keeps the records in the spool while stream creation is throttled, then ships every one in order', async () => {
    const group = newGroup();
    emulator.createLogGroup(group);
    const before = { ...emulator.calls };
    const { pipeline, file } = await startPipeline(group);
    // More refusals than one delivery's attempts (PUT_LOG_EVENTS_RETRY): the delivery fails,
    // the worker backs off and tries again, and nothing is acknowledged meanwhile.
    emulator.throttleNext(12);
    await writeFile(file, numbered(0, 1_000));
    await eventually(
      () => Promise.resolve((pipeline.status().destinations[0]?.failures ?? 0) >= 1 ? true : undefined),
      'a failed delivery while throttled',
    );
    await appendFile(file, numbered(1_000, 2_000));
    const messages = await received(group, 2_000);
    expect(messages).toEqual(Array.from({ length: 2_000 }, (_, i) => `line ${i}`));
    const status = pipeline.status();
    expect(status.lostRecords).toBe(0);
    expect(status.destinations[0]).toMatchObject({ failing: false, dropped: 0, rejected: 0 });
    expect(callsSince(before).CreateLogGroup).toBe(0);
    expect(emulator.streams(group)).toEqual([INSTANCE]);
  });
});
