import { appendFile, mkdtemp, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/core/redactor.js';
import { FileTailSource } from '../../../src/logs/file-tail-source.js';
import type { DeliveryResult, LogDestination } from '../../../src/logs/log-destination.js';
import { LogPipeline } from '../../../src/logs/log-pipeline.js';
import type { LogRecord } from '../../../src/logs/log-record.js';
import type { RecordBatch } from '../../../src/logs/spool-records.js';
import { eventually } from '../../support/test-env.js';

const log = pino({ level: 'silent' });

/** A destination that keeps what it is given (a fake of the LogDestination port). */
class CollectingDestination implements LogDestination {
  readonly name = 'collect';
  readonly records: LogRecord[] = [];
  deliver({ records }: RecordBatch): Promise<DeliveryResult> {
    this.records.push(...records);
    return Promise.resolve({ rejected: 0 });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  messages(source?: string): string[] {
    return this.records.filter((r) => source === undefined || r.source === source).map((r) => r.message);
  }
}

let dir: string;
const pipelines: LogPipeline[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-tail-'));
});
afterEach(async () => {
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(0);
  await rm(dir, { recursive: true, force: true });
});

async function start(pattern: string, destination: CollectingDestination): Promise<LogPipeline> {
  const pipeline = await LogPipeline.start({
    stateDir: join(dir, 'state'),
    sources: [new FileTailSource({ pattern, name: 'files', log, pollIntervalMs: 20, rotateWaitMs: 200 })],
    destinations: [destination],
    redactor: new Redactor(),
    log,
    lingerMs: 10,
    spool: { flushIntervalMs: 10 },
  });
  pipelines.push(pipeline);
  return pipeline;
}

const lines = (from: number, to: number): string =>
  Array.from({ length: to - from }, (_, i) => `line ${from + i}\n`).join('');
const expected = (from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, i) => `line ${from + i}`);

async function collected(destination: CollectingDestination, count: number): Promise<string[]> {
  return eventually(() => {
    const messages = destination.messages();
    return Promise.resolve(messages.length >= count ? messages : undefined);
  }, `${count} lines`);
}

describe('FileTailSource on a real file system', () => {
  it('follows rename rotation (logrotate create): the old file is drained, the new read from its start', async () => {
    const file = join(dir, 'app.log');
    const destination = new CollectingDestination();
    await writeFile(file, lines(0, 100));
    await start(file, destination);
    await collected(destination, 100);
    await appendFile(file, lines(100, 200));
    await rename(file, `${file}.1`);
    await appendFile(`${file}.1`, lines(200, 250)); // the writer has not reopened yet
    await writeFile(file, lines(250, 300));
    expect(await collected(destination, 300)).toEqual(expected(0, 300));
  });

  it('follows copytruncate and plain truncation', async () => {
    const file = join(dir, 'app.log');
    const destination = new CollectingDestination();
    await writeFile(file, lines(0, 100));
    await start(file, destination);
    await collected(destination, 100);
    await truncate(file, 0);
    // Less than was there before, so the next poll sees the size below its offset whenever it
    // comes. (A file that outgrows the old offset between two polls cannot be told apart.)
    await appendFile(file, lines(100, 150));
    expect(await collected(destination, 150)).toEqual(expected(0, 150));
  });

  it('picks up files created later that match the pattern', async () => {
    const destination = new CollectingDestination();
    await start(join(dir, '*.log'), destination);
    await writeFile(join(dir, 'a.log'), 'from a\n');
    await writeFile(join(dir, 'ignored.txt'), 'not me\n');
    await collected(destination, 1);
    await writeFile(join(dir, 'b.log'), 'from b\n');
    expect((await collected(destination, 2)).sort()).toEqual(['from a', 'from b']);
  });

  it('resumes at its checkpoint after a restart, also in a file rotated away while stopped', async () => {
    const file = join(dir, 'app.log');
    const first = new CollectingDestination();
    await writeFile(file, lines(0, 100));
    const pipeline = await start(file, first);
    await collected(first, 100);
    await pipeline.stop(1_000);
    pipelines.splice(pipelines.indexOf(pipeline), 1);
    await appendFile(file, lines(100, 150));
    await rename(file, `${file}.1`);
    await writeFile(file, lines(150, 200));
    const second = new CollectingDestination();
    await start(file, second);
    expect(await collected(second, 100)).toEqual(expected(100, 200));
  });
});
