import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/core/clock.js';
import { FileTailSource } from '../../../src/logs/file-tail-source.js';
import type { CheckpointValue, LineSink, SourceCheckpoint } from '../../../src/logs/log-record.js';
import type { TailFileHandle, TailFileStat, TailFileSystem } from '../../../src/logs/tail-file-system.js';
import { eventually } from '../../support/test-env.js';

const log = pino({ level: 'silent' });

interface Inode {
  readonly ino: string;
  data: Buffer;
}

/** An in-memory TailFileSystem: names point at inodes, open handles keep their inode. */
class FakeFileSystem implements TailFileSystem {
  readonly #names = new Map<string, Inode>();
  #next = 1;

  write(path: string, text: string): void {
    this.#names.set(path, { ino: String(this.#next++), data: Buffer.from(text) });
  }
  append(path: string, text: string): void {
    const inode = this.#names.get(path);
    if (!inode) {
      this.write(path, text);
      return;
    }
    inode.data = Buffer.concat([inode.data, Buffer.from(text)]);
  }
  rename(from: string, to: string): void {
    const inode = this.#names.get(from);
    if (!inode) throw new Error(`no ${from}`);
    this.#names.delete(from);
    this.#names.set(to, inode);
  }
  /** copytruncate: copy to `copy`, then empty the original in place. */
  copyTruncate(path: string, copy: string): void {
    const inode = this.#names.get(path);
    if (!inode) throw new Error(`no ${path}`);
    this.#names.set(copy, { ino: String(this.#next++), data: Buffer.from(inode.data) });
    inode.data = Buffer.alloc(0);
  }

  stat(path: string): Promise<TailFileStat | undefined> {
    const inode = this.#names.get(path);
    return Promise.resolve(inode && { dev: '1', ino: inode.ino, size: inode.data.length });
  }
  open(path: string): Promise<TailFileHandle | undefined> {
    const inode = this.#names.get(path);
    if (!inode) return Promise.resolve(undefined);
    return Promise.resolve({
      stat: () => Promise.resolve({ dev: '1', ino: inode.ino, size: inode.data.length }),
      read: (buffer: Buffer, position: number) => Promise.resolve(inode.data.copy(buffer, 0, position)),
      close: () => Promise.resolve(),
    });
  }
  list(dir: string): Promise<string[]> {
    const prefix = `${dir}/`;
    return Promise.resolve(
      [...this.#names.keys()].filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length)),
    );
  }
}

class CollectingSink implements LineSink {
  readonly lines: string[] = [];
  readonly files: (string | undefined)[] = [];
  readonly saved: Record<string, CheckpointValue> = {};
  writeLine(
    line: Buffer | string,
    _timestamp: number,
    checkpoint?: SourceCheckpoint,
    file?: string,
  ): boolean {
    this.lines.push(String(line));
    this.files.push(file);
    if (checkpoint) this.saved[checkpoint.key] = checkpoint.value;
    return true;
  }
  drained(): Promise<void> {
    return Promise.resolve();
  }
  setCheckpoint(checkpoint: SourceCheckpoint): void {
    this.saved[checkpoint.key] = checkpoint.value;
  }
  checkpoint(key: string): CheckpointValue | undefined {
    return this.saved[key];
  }
}

// Each poll waits one macrotask: the tail runs as fast as the test checks it.
const clock: Clock = {
  now: () => Date.now(),
  sleep: (_ms, signal) =>
    new Promise((resolve, reject) => {
      setImmediate(() => {
        if (signal?.aborted) reject(new Error('aborted'));
        else resolve();
      });
    }),
};
const running: AbortController[] = [];
afterEach(() => {
  for (const controller of running.splice(0)) controller.abort();
});

function tail(
  fs: FakeFileSystem,
  sink: CollectingSink,
  pattern = '/logs/app.log',
  recordFile = false,
): Promise<void> {
  const controller = new AbortController();
  running.push(controller);
  const source = new FileTailSource({ pattern, log, fs, clock, rotateWaitMs: 0, recordFile });
  return source.run(sink, controller.signal);
}

async function lines(sink: CollectingSink, count: number): Promise<string[]> {
  return eventually(
    () => Promise.resolve(sink.lines.length >= count ? [...sink.lines] : undefined),
    `${count} lines`,
    2_000,
  );
}

describe('FileTailSource (fake file system)', () => {
  it('reads whole lines, keeps an unfinished one until its newline', async () => {
    const fs = new FakeFileSystem();
    const sink = new CollectingSink();
    fs.write('/logs/app.log', 'one\ntw');
    void tail(fs, sink);
    expect(await lines(sink, 1)).toEqual(['one']);
    expect(sink.saved['file:/logs/app.log']).toEqual({ dev: '1', ino: '1', offset: 4 });
    fs.append('/logs/app.log', 'o\r\nthree\n');
    expect(await lines(sink, 3)).toEqual(['one', 'two', 'three']);
  });

  it('detects rename rotation by the inode: drains the old file, then reads the new one from 0', async () => {
    const fs = new FakeFileSystem();
    const sink = new CollectingSink();
    fs.write('/logs/app.log', 'a\n');
    void tail(fs, sink);
    await lines(sink, 1);
    fs.append('/logs/app.log', 'b\n');
    fs.rename('/logs/app.log', '/logs/app.log.1');
    fs.write('/logs/app.log', 'c\n');
    expect(await lines(sink, 3)).toEqual(['a', 'b', 'c']);
    expect(sink.saved['file:/logs/app.log']).toEqual({ dev: '1', ino: '2', offset: 2 });
  });

  it('does not read a rotated file twice when a poll finds the path missing between rename and create', async () => {
    const fs = new FakeFileSystem();
    const sink = new CollectingSink();
    let polls = 0;
    const counting: Clock = {
      now: () => clock.now(),
      sleep: (ms, signal) => (polls++, clock.sleep(ms, signal)),
    };
    fs.write('/logs/app.log', 'a\n');
    const controller = new AbortController();
    running.push(controller);
    void new FileTailSource({ pattern: '/logs/app.log', log, fs, clock: counting, rotateWaitMs: 60_000 }).run(
      sink,
      controller.signal,
    );
    await lines(sink, 1);
    fs.rename('/logs/app.log', '/logs/app.log.1');
    const missingAt = polls;
    await eventually(() => Promise.resolve(polls >= missingAt + 3 ? true : undefined), 'polls', 2_000);
    fs.append('/logs/app.log.1', 'b\n'); // the writer has not reopened yet
    await lines(sink, 2);
    fs.write('/logs/app.log', 'c\n');
    expect(await lines(sink, 3)).toEqual(['a', 'b', 'c']);
    const createdAt = polls;
    await eventually(() => Promise.resolve(polls >= createdAt + 3 ? true : undefined), 'polls', 2_000);
    expect(sink.lines).toEqual(['a', 'b', 'c']);
  });

  it('reads files rotated away between two polls by name in code-unit order when no birth time tells', async () => {
    const fs = new FakeFileSystem();
    const sink = new CollectingSink();
    fs.write('/logs/app.log', 'a\n');
    void tail(fs, sink);
    await lines(sink, 1);
    // Between two polls: two files are the path in turn and are renamed away unseen.
    fs.rename('/logs/app.log', '/logs/app.log-1');
    fs.write('/logs/app.log', 'b\n');
    fs.rename('/logs/app.log', '/logs/app.log_3');
    fs.write('/logs/app.log', 'c\n');
    fs.rename('/logs/app.log', '/logs/app.log.2');
    fs.write('/logs/app.log', 'd\n');
    // '.' < '_' in code units; a locale collation ('_' before '.') would read app.log_3 first.
    expect(await lines(sink, 4)).toEqual(['a', 'c', 'b', 'd']);
  });

  it('detects copytruncate by the size dropping below its offset', async () => {
    const fs = new FakeFileSystem();
    const sink = new CollectingSink();
    fs.write('/logs/app.log', 'first line\nsecond line\n');
    void tail(fs, sink);
    await lines(sink, 2);
    fs.copyTruncate('/logs/app.log', '/logs/app.log.1');
    // Shorter than the old offset (23), so the truncation shows whenever the next poll comes.
    fs.append('/logs/app.log', 'third\n');
    expect(await lines(sink, 3)).toEqual(['first line', 'second line', 'third']);
  });

  it('resumes from a checkpoint in a file that was rotated away while it was stopped', async () => {
    const fs = new FakeFileSystem();
    const sink = new CollectingSink();
    fs.write('/logs/app.log', 'a\nb\nc\n'); // inode 1
    sink.saved['file:/logs/app.log'] = { dev: '1', ino: '1', offset: 2 }; // 'a' was shipped
    fs.rename('/logs/app.log', '/logs/app.log.1');
    fs.write('/logs/app.log', 'd\n');
    void tail(fs, sink);
    expect(await lines(sink, 3)).toEqual(['b', 'c', 'd']);
  });

  it('picks up files created later that match the pattern', async () => {
    const fs = new FakeFileSystem();
    const sink = new CollectingSink();
    void tail(fs, sink, '/custom/*.log');
    fs.write('/custom/a.log', 'from a\n');
    await lines(sink, 1);
    fs.write('/custom/b.txt', 'not me\n');
    fs.write('/custom/b.log', 'from b\n');
    expect(await lines(sink, 2)).toEqual(['from a', 'from b']);
    // Without recordFile the lines do not name their file (the spool's byte path stays open).
    expect(sink.files).toEqual([undefined, undefined]);
  });

  it('names each line’s file with recordFile and a pattern (Scalyr’s logfile), not with a plain path', async () => {
    const fs = new FakeFileSystem();
    const sink = new CollectingSink();
    void tail(fs, sink, '/custom/*.log', true);
    fs.write('/custom/a.log', 'from a\n');
    await lines(sink, 1);
    fs.write('/custom/b.log', 'from b\n');
    await lines(sink, 2);
    expect(sink.files).toEqual(['/custom/a.log', '/custom/b.log']);
    const plain = new CollectingSink();
    void tail(fs, plain, '/custom/a.log', true);
    await lines(plain, 1);
    expect(plain.files).toEqual([undefined]);
  });
});
