import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/core/redactor.js';
import { AwsS3LogDestination } from '../../../src/logs/aws-s3-log-destination.js';
import { FileTailSource } from '../../../src/logs/file-tail-source.js';
import { LogPipeline } from '../../../src/logs/log-pipeline.js';
import { S3Emulator } from '../../emulators/s3-emulator.js';
import { eventually } from '../../support/test-env.js';
import { cappedClock } from '../../support/capped-clock.js';

const INSTANCE = 'i-0s3logs000000001';
const log = pino({ level: 'silent' });
// Real time, but no backoff longer than 20 ms: the retry policies are exercised, not waited out.
const quickClock = cappedClock(20);
const KEY_RE = /^taupage\/hello\/1\.0\.3\/app\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/i-0s3logs000000001-(\d+)\.gz$/;

let emulator: S3Emulator;
let dir = '';
let bucketCount = 0;
const pipelines: LogPipeline[] = [];

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDS3LOGSTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 's3-logs-test-secret';
  emulator = await S3Emulator.start({
    region: 'eu-west-1',
    credentials: [{ accessKeyId: 'AKIDS3LOGSTEST', secretAccessKey: 's3-logs-test-secret' }],
  });
});
afterAll(async () => {
  await emulator.stop();
});
afterEach(async () => {
  await emulator.online().catch(() => undefined);
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(0);
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
});

async function startPipeline(
  options: {
    bucket?: string;
    createBucket?: boolean;
    raw?: boolean;
    acl?: string;
    timekey?: number;
    redactor?: Redactor;
  } = {},
): Promise<{ pipeline: LogPipeline; file: string; bucket: string }> {
  if (!dir) dir = await mkdtemp(join(tmpdir(), 'taupage-s3-logs-'));
  const file = join(dir, 'app.log');
  const bucket = options.bucket ?? `logs-${String(process.pid)}-${String(bucketCount++)}`;
  if (options.createBucket !== false) emulator.createBucket(bucket);
  const pipeline = await LogPipeline.start({
    stateDir: join(dir, 'state'),
    sources: [new FileTailSource({ pattern: file, name: 'app', log, maskJwt: true, pollIntervalMs: 20 })],
    destinations: [
      new AwsS3LogDestination({
        bucket,
        region: emulator.region,
        endpoint: emulator.url,
        acl: options.acl ?? 'bucket-owner-full-control',
        naming: {
          prefix: 'taupage',
          applicationId: 'hello',
          applicationVersion: '1.0.3',
          instanceId: INSTANCE,
        },
        routes: { app: { label: 'app' } },
        timekeyMs: options.timekey ?? 500,
        raw: options.raw ?? true,
        log,
        clock: quickClock,
      }),
    ],
    redactor: options.redactor ?? new Redactor(),
    log,
    clock: quickClock,
    lingerMs: 20,
    spool: { flushIntervalMs: 10 },
  });
  pipelines.push(pipeline);
  return { pipeline, file, bucket };
}

const numbered = (from: number, to: number): string =>
  Array.from({ length: to - from }, (_, i) => `line ${String(from + i)}\n`).join('');

/** Every line of every object in the bucket, objects in key (= seq) order. */
function shippedLines(bucket: string): string[] {
  const objects = [...emulator.objects(bucket)].sort(([a], [b]) => seqOf(a) - seqOf(b));
  return objects.flatMap(([, object]) => gunzipSync(object.body).toString('utf8').split('\n').slice(0, -1));
}

function seqOf(key: string): number {
  return Number(KEY_RE.exec(key)?.[1] ?? Number.NaN);
}

async function received(bucket: string, count: number): Promise<string[]> {
  return eventually(
    () => {
      const lines = shippedLines(bucket);
      return Promise.resolve(new Set(lines).size >= count ? lines : undefined);
    },
    `${String(count)} distinct lines in s3://${bucket}`,
    30_000,
  );
}

function missing(lines: readonly string[], count: number): string[] {
  const seen = new Set(lines);
  return Array.from({ length: count }, (_, i) => `line ${String(i)}`).filter((line) => !seen.has(line));
}

describe('log pipeline → S3 emulator (real SDK, SigV4)', () => {
  it('uploads gzip objects under <prefix>/<app>/<version>/<source>/YYYY/MM/DD/HH/<instance>-<seq>.gz with the ACL', async () => {
    const { file, bucket } = await startPipeline();
    const before = new Date();
    await writeFile(file, numbered(0, 20_000));
    const lines = await received(bucket, 20_000);
    expect(lines).toEqual(Array.from({ length: 20_000 }, (_, i) => `line ${String(i)}`));
    const keys = [...emulator.objects(bucket).keys()];
    for (const key of keys) expect(key).toMatch(KEY_RE);
    const hour = before.toISOString().slice(0, 13).replace(/[-T]/g, '/');
    expect(keys.some((key) => key.includes(`/app/${hour}/`))).toBe(true);
    expect(new Set(keys.map(seqOf)).size).toBe(keys.length);
    for (const object of emulator.objects(bucket).values()) {
      expect(object.acl).toBe('bucket-owner-full-control');
      expect(object.contentType).toBe('application/gzip');
      expect(object.body.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    }
  });

  it('rolls objects by s3_timekey: lines written in two windows land in two objects', async () => {
    const { file, bucket } = await startPipeline({ timekey: 300 });
    await writeFile(file, 'first window\n');
    await received(bucket, 1);
    // The first object is there only once its window ended; the next line opens a new one.
    await appendFile(file, 'second window\n');
    const lines = await received(bucket, 2);
    expect(lines).toEqual(['first window', 'second window']);
    expect(emulator.objects(bucket).size).toBe(2);
  });

  it('writes JSON records with s3_raw_log_format false, and masks JWTs and secrets', async () => {
    const redactor = new Redactor();
    redactor.register('s3cr3t-db-password');
    const { file, bucket } = await startPipeline({ raw: false, redactor });
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl';
    await writeFile(file, `say "hi" \\ ${jwt}\npassword s3cr3t-db-password\n`);
    const lines = await received(bucket, 2);
    const records = lines.map(
      (line) => JSON.parse(line) as { time: string; source: string; message: string },
    );
    expect(records.map((r) => r.message)).toEqual([
      'say "hi" \\ +++JWT_TOKEN_REDACTED+++',
      'password [redacted]',
    ]);
    expect(records[0]?.source).toBe('app');
    expect(Number.isNaN(Date.parse(records[0]?.time ?? ''))).toBe(false);
    expect(lines.join('\n')).not.toContain('s3cr3t');
  });

  it('loses nothing through an outage mid-run (connection refused, then 503 SlowDown and 500s)', async () => {
    const { pipeline, file, bucket } = await startPipeline();
    await writeFile(file, numbered(0, 10_000));
    await received(bucket, 10_000);
    await emulator.offline();
    await appendFile(file, numbered(10_000, 20_000));
    await eventually(
      () => Promise.resolve((pipeline.status().destinations[0]?.failures ?? 0) >= 2 ? true : undefined),
      'failed uploads while S3 is down',
    );
    expect(pipeline.status().destinations[0]?.failing).toBe(true);
    await appendFile(file, numbered(20_000, 30_000));
    emulator.injectFault('SlowDown', 4);
    emulator.injectFault('InternalError', 3);
    await emulator.online();
    const lines = await received(bucket, 30_000);
    expect(missing(lines, 30_000)).toEqual([]);
    // No crash: a retried object keeps its name, so retries do not duplicate lines.
    expect(lines.length).toBe(30_000);
    const status = pipeline.status();
    expect(status.lostRecords).toBe(0);
    expect(status.destinations[0]).toMatchObject({ failing: false, dropped: 0, rejected: 0 });
  });

  it('resumes after the shipper stops mid-way without flushing: no gaps, duplicates within what was held', async () => {
    const first = await startPipeline({ timekey: 60 * 60_000 });
    await writeFile(first.file, numbered(0, 20_000));
    await eventually(
      () => Promise.resolve(first.pipeline.status().sources[0]?.lines === 20_000 ? true : undefined),
      'the lines read into the spool',
    );
    // A one-hour window: nothing is due yet, everything is held. Stop with no time to flush.
    await first.pipeline.stop(0);
    pipelines.splice(pipelines.indexOf(first.pipeline), 1);
    expect(emulator.objects(first.bucket).size).toBe(0);
    await appendFile(first.file, numbered(20_000, 25_000));
    const second = await startPipeline({ bucket: first.bucket, timekey: 200 });
    const lines = await received(second.bucket, 25_000);
    expect(missing(lines, 25_000)).toEqual([]);
    expect(lines.length).toBe(25_000);
  });

  it('flushes what it holds within the stop deadline', async () => {
    const { pipeline, file, bucket } = await startPipeline({ timekey: 60 * 60_000 });
    await writeFile(file, numbered(0, 5_000));
    await eventually(
      () => Promise.resolve(pipeline.status().sources[0]?.lines === 5_000 ? true : undefined),
      'the lines read',
    );
    await pipeline.stop(10_000);
    pipelines.splice(pipelines.indexOf(pipeline), 1);
    const lines = shippedLines(bucket);
    expect(missing(lines, 5_000)).toEqual([]);
    expect(emulator.objects(bucket).size).toBe(1);
  });

  it('keeps the lines in the spool while the bucket is missing (NoSuchBucket), and ships once it exists', async () => {
    const { pipeline, file, bucket } = await startPipeline({ createBucket: false });
    await writeFile(file, numbered(0, 1_000));
    const status = await eventually(() => {
      const destination = pipeline.status().destinations[0];
      return Promise.resolve(destination?.failing === true ? destination : undefined);
    }, 'NoSuchBucket failures');
    expect(status.lastError).toMatch(/NoSuchBucket/);
    expect(emulator.objects(bucket).size).toBe(0);
    emulator.createBucket(bucket);
    const lines = await received(bucket, 1_000);
    expect(missing(lines, 1_000)).toEqual([]);
    expect(lines.length).toBe(1_000);
  });
});
