import {
  appendFile,
  copyFile,
  mkdtemp,
  open,
  rename,
  rm,
  truncate,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
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

async function start(
  pattern: string,
  destination: CollectingDestination,
  tail: { log?: Logger; pollIntervalMs?: number } = {},
): Promise<LogPipeline> {
  const pipeline = await LogPipeline.start({
    stateDir: join(dir, 'state'),
    sources: [
      new FileTailSource({
        pattern,
        name: 'files',
        log: tail.log ?? log,
        pollIntervalMs: tail.pollIntervalMs ?? 20,
        rotateWaitMs: 200,
      }),
    ],
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

/** A logger that keeps its messages (to see which rotation cases a storm went through). */
function recordingLogger(): { log: Logger; messages: string[] } {
  const messages: string[] = [];
  const write = (line: string): void => {
    messages.push((JSON.parse(line) as { msg: string }).msg);
  };
  return { log: pino({ level: 'info' }, { write }), messages };
}

/**
 * An application writing numbered lines in small appends through a descriptor it keeps open
 * (O_APPEND), like a logger; `reopen` is what it does when logrotate's postrotate tells it to.
 * `segments` says which line numbers each file's content holds (a renamed file keeps its
 * segment; a copytruncate starts a new one in the same file).
 */
class StormWriter {
  next = 0;
  readonly segments: { from: number; to: number }[] = [{ from: 0, to: 0 }];
  #handle: FileHandle;

  private constructor(
    readonly file: string,
    handle: FileHandle,
  ) {
    this.#handle = handle;
  }

  static async open(file: string): Promise<StormWriter> {
    return new StormWriter(file, await open(file, 'a'));
  }

  /** `count` lines, five per append. */
  async write(count: number): Promise<void> {
    const end = this.next + count;
    while (this.next < end) {
      const to = Math.min(this.next + 5, end);
      await this.#handle.write(lines(this.next, to));
      this.next = to;
    }
    this.segment.to = this.next;
  }

  async reopen(): Promise<void> {
    await this.#handle.close();
    this.#handle = await open(this.file, 'a');
    this.newSegment();
  }

  newSegment(): void {
    this.segments.push({ from: this.next, to: this.next });
  }

  get segment(): { from: number; to: number } {
    const last = this.segments.at(-1);
    if (!last) throw new Error('no segment');
    return last;
  }

  /** A last line, read after everything written before it (the tailer drains in order). */
  async finish(destination: CollectingDestination): Promise<void> {
    await this.#handle.write('end\n');
    await this.#handle.close();
    await eventually(
      () => Promise.resolve(destination.messages().includes('end') || undefined),
      'the last line',
    );
  }
}

/** Waits for the last line written so far (a lost one earlier shows in the final check). */
async function caughtUp(destination: CollectingDestination, writer: StormWriter): Promise<void> {
  const last = `line ${writer.next - 1}`;
  try {
    await eventually(() => Promise.resolve(destination.messages().includes(last) || undefined), last);
  } catch (error) {
    const counts = arrivals(destination);
    const missing = Array.from({ length: writer.next }, (_, i) => i).filter((n) => !counts.has(n));
    throw new Error(
      `${String(error)}; ${missing.length} lines missing, from ${missing.slice(0, 10).join(', ')}`,
      { cause: error },
    );
  }
}

/** The line numbers that arrived, with their counts. */
function arrivals(destination: CollectingDestination): Map<number, number> {
  const counts = new Map<number, number>();
  for (const message of destination.messages()) {
    const number = /^line (\d+)$/.exec(message)?.[1];
    if (number !== undefined) counts.set(Number(number), (counts.get(Number(number)) ?? 0) + 1);
  }
  return counts;
}

/** Every line written arrived exactly once, and each file's lines in the order written. */
function expectEveryLineOnceInOrder(destination: CollectingDestination, writer: StormWriter): void {
  const counts = arrivals(destination);
  const numbers = Array.from({ length: writer.next }, (_, i) => i);
  const missing = numbers.filter((n) => !counts.has(n));
  const repeated = numbers.filter((n) => (counts.get(n) ?? 0) > 1);
  expect({ missing: missing.length, firstMissing: missing.slice(0, 10) }).toEqual({
    missing: 0,
    firstMissing: [],
  });
  expect({ repeated: repeated.length, firstRepeated: repeated.slice(0, 10) }).toEqual({
    repeated: 0,
    firstRepeated: [],
  });
  expect(destination.messages().length).toBe(writer.next + 1); // + "end", nothing else
  const position = new Map(destination.messages().map((message, index) => [message, index]));
  const outOfOrder = writer.segments.filter(({ from, to }) =>
    numbers
      .slice(from + 1, to)
      .some((n) => (position.get(`line ${n}`) ?? 0) < (position.get(`line ${n - 1}`) ?? 0)),
  );
  expect(outOfOrder).toEqual([]);
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
  it('loses and repeats no line in a storm of 100 rename rotations, several between two polls', async () => {
    const file = join(dir, 'app.log');
    const destination = new CollectingDestination();
    const recorder = recordingLogger();
    await writeFile(file, '');
    // Polls 50 ms apart; a rotation below takes a few ms, so most polls find the path renamed
    // more than once since the last one: files that were app.log only between two polls.
    await start(file, destination, { log: recorder.log, pollIntervalMs: 50 });
    const writer = await StormWriter.open(file);
    for (let k = 1; k <= 100; k++) {
      await writer.write(495);
      // logrotate `create` (no delete): rename; the app writes on into the renamed file until
      // told to reopen; the new file is created; the app reopens.
      await rename(file, `${file}.${k}`);
      await writer.write(5);
      await writeFile(file, '');
      await writer.reopen();
      // Now and then the tailer catches up, so the storm also rotates files it reads live.
      if (k % 25 === 0) await caughtUp(destination, writer);
    }
    await writer.finish(destination);
    expect(writer.next).toBe(50_000);
    expectEveryLineOnceInOrder(destination, writer);
    expect(recorder.messages).toContain('Reading a log file that was rotated away between two polls');
  });

  it('loses and repeats no line in a storm mixing rename, deletion of read rotated files and copytruncate', async () => {
    const file = join(dir, 'app.log');
    const destination = new CollectingDestination();
    const recorder = recordingLogger();
    await writeFile(file, '');
    await start(file, destination, { log: recorder.log, pollIntervalMs: 50 });
    const writer = await StormWriter.open(file);
    const rotated: { path: string; to: number }[] = [];
    let deleted = 0;
    for (let k = 1; k <= 100; k++) {
      await writer.write(495);
      if (k % 3 === 0) {
        // copytruncate. Lines written between the copy and the truncate, and lines the tailer
        // had not read yet when the file was truncated, are only in the copy: every tailer loses
        // them (logrotate(8): "there is a very small time slice between copying the file and
        // truncating it, so some logging data might be lost"). So the app pauses: the tailer
        // has read everything before the copy, and sees the truncation (the file is smaller
        // than its offset) before the app writes on. What it guarantees then: no loss, and the
        // copy, a new file next to app.log, is not read as one more rotated file.
        await caughtUp(destination, writer);
        await copyFile(file, `${file}.${k}`);
        await truncate(file, 0);
        rotated.push({ path: `${file}.${k}`, to: writer.next });
        writer.newSegment();
        await writer.write(5);
        await caughtUp(destination, writer);
      } else {
        await rename(file, `${file}.${k}`);
        await writer.write(5);
        rotated.push({ path: `${file}.${k}`, to: writer.next });
        await writeFile(file, '');
        await writer.reopen();
      }
      // logrotate `rotate 3`: the oldest rotated file is deleted, once the tailer has read it
      // (unread lines of a deleted file are gone for any tailer).
      const counts = arrivals(destination);
      for (let oldest = rotated[0]; oldest && rotated.length > 3; oldest = rotated[0]) {
        if (!counts.has(oldest.to - 1)) break;
        await rm(oldest.path);
        rotated.shift();
        deleted++;
      }
    }
    await writer.finish(destination);
    expectEveryLineOnceInOrder(destination, writer);
    expect(deleted).toBeGreaterThan(50);
    expect(recorder.messages).toContain('Log file truncated, reading from its start');
  });
});
