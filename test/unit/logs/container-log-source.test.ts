import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/core/clock.js';
import {
  DockerTimestampParser,
  dockerTimestampToSince,
  type ContainerLogEntry,
  type ContainerLogReader,
} from '../../../src/logs/container-log-reader.js';
import { ContainerLogSource } from '../../../src/logs/container-log-source.js';
import type { CheckpointValue, LineSink, SourceCheckpoint } from '../../../src/logs/log-record.js';

const log = pino({ level: 'silent' });

/** A LineSink fake: collects lines and checkpoints; `saved` plays the persisted state. */
class CollectingSink implements LineSink {
  readonly lines: string[] = [];
  readonly checkpoints: SourceCheckpoint[] = [];
  constructor(private readonly saved: Record<string, CheckpointValue> = {}) {}
  writeLine(line: Buffer | string, _timestamp: number, checkpoint?: SourceCheckpoint): boolean {
    this.lines.push(String(line));
    if (checkpoint) this.checkpoints.push(checkpoint);
    return true;
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  setCheckpoint(checkpoint: SourceCheckpoint): void {
    this.checkpoints.push(checkpoint);
  }
  checkpoint(key: string): CheckpointValue | undefined {
    return this.saved[key];
  }
}

/** A ContainerLogReader fake that serves each follow from a script and records its `since`. */
class ScriptedReader implements ContainerLogReader {
  /** `since` of each follow (`follow: true`). */
  readonly sinces: Array<string | undefined> = [];
  /** `since` of each read without follow (the last read when the source stops). */
  readonly finalSinces: Array<string | undefined> = [];
  constructor(
    private readonly follows: ContainerLogEntry[][],
    private readonly finalEntries: ContainerLogEntry[] = [],
  ) {}
  async *follow(
    _container: string,
    since: string | undefined,
    _signal: AbortSignal,
    options: { readonly follow?: boolean } = {},
  ): AsyncIterable<ContainerLogEntry[]> {
    if (options.follow === false) {
      this.finalSinces.push(since);
      const since0 = since === undefined ? -Infinity : Number(since);
      // Docker's since is inclusive.
      const entries = this.finalEntries.filter((e) => Number(sinceOf(e)) >= since0);
      if (entries.length > 0) yield await Promise.resolve(entries);
      return;
    }
    this.sinces.push(since);
    const entries = this.follows.shift() ?? [];
    // One entry per batch: the source must handle batches of any size, and awaits between them.
    for (const entry of entries) yield await Promise.resolve([entry]);
  }
}

const entry = (second: number, nanos: number, line: string, partial = false): ContainerLogEntry => ({
  stream: 'stdout',
  timestamp: `2026-11-21T23:00:${String(second).padStart(2, '0')}.${String(nanos).padStart(9, '0')}Z`,
  line: Buffer.from(line),
  partial,
});

/** Runs the source until the reader has served `follows` follows, then aborts it. */
async function run(reader: ScriptedReader, sink: CollectingSink, follows: number): Promise<void> {
  const controller = new AbortController();
  const clock: Clock = {
    now: () => 0,
    sleep: async () => {
      if (reader.sinces.length >= follows) controller.abort();
      await Promise.resolve();
      if (controller.signal.aborted) throw new Error('aborted');
    },
  };
  const source = new ContainerLogSource({ container: 'taupageapp', reader, log, clock });
  await source.run(sink, controller.signal);
}

/** One `local` log driver frame (length, protobuf LogEntry on stdout, length). */
function localFrame(nanos: bigint, line: string): Buffer {
  const varint: number[] = [];
  for (let rest = nanos; ;) {
    const byte = Number(rest & 0x7fn);
    rest >>= 7n;
    varint.push(rest > 0n ? byte | 0x80 : byte);
    if (rest === 0n) break;
  }
  const body = Buffer.concat([
    Buffer.from([0x0a, 6]),
    Buffer.from('stdout'),
    Buffer.from([0x10, ...varint, 0x1a, line.length]),
    Buffer.from(line),
  ]);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(body.length);
  return Buffer.concat([size, body, size]);
}

const BASE = Date.parse('2026-11-21T23:00:00Z') / 1000;
const sinceOf = (e: ContainerLogEntry): string => dockerTimestampToSince(e.timestamp);

describe('ContainerLogSource', () => {
  it('reads through the Docker API when the log driver keeps no files (journald…), and says so', async () => {
    const sink = new CollectingSink();
    const reader = new ScriptedReader([[entry(1, 0, 'a')]]);
    const asked: string[] = [];
    // The adapter answers null for a driver without files.
    Object.assign(reader, {
      logFiles: (container: string) => {
        asked.push(container);
        return Promise.resolve(null);
      },
    });
    const controller = new AbortController();
    const source = new ContainerLogSource({
      container: 'taupageapp',
      reader,
      log,
      clock: {
        now: () => 0,
        sleep: async () => {
          controller.abort();
          await Promise.resolve();
          throw new Error('aborted');
        },
      },
    });
    expect(source.via).toBeUndefined();
    await source.run(sink, controller.signal);
    expect(asked[0]).toBe('taupageapp');
    expect(source.via).toBe('docker-api');
    expect(sink.lines).toEqual(['a']);
  });

  it('waits for a started container’s local-logs directory instead of falling back to the API', async () => {
    // dockerd makes <root>/containers/<id>/ at create and local-logs/ only at start: a follower
    // that looks in between must look again, not read the Docker API for the container's life.
    const root = await mkdtemp(join(tmpdir(), 'taupage-local-logs-'));
    try {
      const path = join(root, 'containers', 'c0ffee', 'local-logs', 'container.log');
      await mkdir(dirname(dirname(path)), { recursive: true });
      const sink = new CollectingSink();
      const reader = new ScriptedReader([[entry(1, 0, 'from the api')]]);
      Object.assign(reader, {
        logFiles: () => Promise.resolve({ id: 'c0ffee', format: 'local', path }),
      });
      const controller = new AbortController();
      let sleeps = 0;
      const source = new ContainerLogSource({
        container: 'taupageapp',
        reader,
        log,
        clock: {
          now: () => 0,
          sleep: async () => {
            // The container starts during the first wait.
            if (++sleeps === 1) {
              await mkdir(dirname(path));
              await writeFile(path, localFrame(1_795_000_000_000_000_000n, 'from the file'));
            }
            if (sink.lines.length > 0 || sleeps > 100) {
              controller.abort();
              throw new Error('aborted');
            }
          },
        },
      });
      await source.run(sink, controller.signal);
      expect(sink.lines).toEqual(['from the file']);
      expect(reader.sinces).toEqual([]);
      expect(source.via).toBe('files');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('looks for a container that does not exist yet again instead of following the Docker API', async () => {
    // The agent starts the source before it creates the app container: inspect says 404. A
    // follow of the API in that moment reached the container once it was created, and read
    // it through `docker logs -f` for its whole life (bench/logs: dockerd at 1.3 CPU s).
    const root = await mkdtemp(join(tmpdir(), 'taupage-local-logs-'));
    try {
      const path = join(root, 'containers', 'c0ffee', 'local-logs', 'container.log');
      const sink = new CollectingSink();
      const reader = new ScriptedReader([[entry(1, 0, 'from the api')]]);
      let created = false;
      Object.assign(reader, {
        logFiles: () => Promise.resolve(created ? { id: 'c0ffee', format: 'local', path } : undefined),
      });
      const controller = new AbortController();
      let sleeps = 0;
      const source = new ContainerLogSource({
        container: 'taupageapp',
        reader,
        log,
        clock: {
          now: () => 0,
          sleep: async () => {
            // The container is created and started during the first wait.
            if (++sleeps === 1) {
              await mkdir(dirname(path), { recursive: true });
              await writeFile(path, localFrame(1_795_000_000_000_000_000n, 'from the file'));
              created = true;
            }
            if (sink.lines.length > 0 || sleeps > 100) {
              controller.abort();
              throw new Error('aborted');
            }
          },
        },
      });
      await source.run(sink, controller.signal);
      expect(sink.lines).toEqual(['from the file']);
      expect(reader.sinces).toEqual([]);
      expect(source.via).toBe('files');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('checkpoints the Docker timestamp and how many entries share it', async () => {
    const sink = new CollectingSink();
    await run(new ScriptedReader([[entry(1, 5, 'a'), entry(1, 5, 'b'), entry(2, 0, 'c')]]), sink, 1);
    expect(sink.lines).toEqual(['a', 'b', 'c']);
    expect(sink.checkpoints.map((c) => c.value)).toEqual([
      { since: `${BASE + 1}.000000005`, count: 1 },
      { since: `${BASE + 1}.000000005`, count: 2 },
      { since: `${BASE + 2}.000000000`, count: 1 },
    ]);
  });

  it('resumes with since = checkpoint and skips exactly the entries already shipped at that instant', async () => {
    const sink = new CollectingSink({ 'container:taupageapp': { since: `${BASE + 1}.000000005`, count: 2 } });
    const reader = new ScriptedReader([
      [entry(1, 5, 'a'), entry(1, 5, 'b'), entry(1, 5, 'b2'), entry(2, 0, 'c')],
    ]);
    await run(reader, sink, 1);
    expect(reader.sinces).toEqual([`${BASE + 1}.000000005`]);
    expect(sink.lines).toEqual(['b2', 'c']);
  });

  it('reconnects from where it was (not from the persisted checkpoint) after the stream ends', async () => {
    const sink = new CollectingSink();
    const reader = new ScriptedReader([
      [entry(1, 0, 'a'), entry(3, 0, 'b')],
      [entry(3, 0, 'b'), entry(4, 0, 'c')],
    ]);
    await run(reader, sink, 2);
    expect(reader.sinces).toEqual([undefined, `${BASE + 3}.000000000`]);
    expect(sink.lines).toEqual(['a', 'b', 'c']);
  });

  // Issue 15 (fault campaign, dockerd restarted under a running app): the log stream breaks with
  // an error, not an end. The source resumed from where the broken follow had *started*, and
  // shipped again every line it had already shipped since then (53 of 95 in the e2e test).
  it('reconnects from the last line it wrote when the stream breaks with an error (dockerd restart)', async () => {
    const sink = new CollectingSink();
    const reader = new ScriptedReader([
      [entry(1, 0, 'a'), entry(3, 0, 'b')],
      [entry(3, 0, 'b'), entry(4, 0, 'c')],
    ]);
    const breaking: ContainerLogReader = {
      async *follow(container, since, signal, options) {
        const first = reader.sinces.length === 0 && options?.follow !== false;
        yield* reader.follow(container, since, signal, options);
        if (first) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      },
    };
    const controller = new AbortController();
    const clock: Clock = {
      now: () => 0,
      sleep: async () => {
        if (reader.sinces.length >= 2) controller.abort();
        await Promise.resolve();
        if (controller.signal.aborted) throw new Error('aborted');
      },
    };
    await new ContainerLogSource({ container: 'taupageapp', reader: breaking, log, clock }).run(
      sink,
      controller.signal,
    );
    expect(reader.sinces).toEqual([undefined, `${BASE + 3}.000000000`]);
    expect(sink.lines).toEqual(['a', 'b', 'c']);
  });

  it('reads the log once more without following when stopped between two follows', async () => {
    const sink = new CollectingSink();
    // The first follow finds the app already exited after two lines; while the source waits to
    // reconnect, the app was restarted and wrote a third line; then the source is stopped.
    const reader = new ScriptedReader(
      [[entry(1, 0, 'a'), entry(2, 0, 'b')]],
      [entry(1, 0, 'a'), entry(2, 0, 'b'), entry(3, 0, 'c')],
    );
    await run(reader, sink, 1);
    expect(reader.finalSinces).toEqual([`${BASE + 2}.000000000`]);
    expect(sink.lines).toEqual(['a', 'b', 'c']);
  });

  it('joins partial entries into one line and checkpoints only whole lines', async () => {
    const sink = new CollectingSink();
    await run(
      new ScriptedReader([[entry(1, 1, 'par', true), entry(1, 2, 'tial', true), entry(1, 3, ' line')]]),
      sink,
      1,
    );
    expect(sink.lines).toEqual(['partial line']);
    expect(sink.checkpoints.map((c) => c.value)).toEqual([{ since: `${BASE + 1}.000000003`, count: 1 }]);
  });
});

describe('Docker timestamps', () => {
  it('converts RFC 3339 with nanoseconds to Docker’s since form and to milliseconds', () => {
    expect(dockerTimestampToSince('2026-11-21T23:00:01.5Z')).toBe(`${BASE + 1}.500000000`);
    const parser = new DockerTimestampParser();
    expect(parser.parse('2026-11-21T23:00:01.123456789Z')).toEqual({
      since: `${BASE + 1}.123456789`,
      millis: (BASE + 1) * 1000 + 123,
    });
    expect(parser.parse('2026-11-21T23:00:02.000000001Z').millis).toBe((BASE + 2) * 1000);
  });
});
