import { createReadStream } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Clock } from '../core/clock.js';
import { DockerLogEntries, nanosToSince, sinceToNanos, type DockerLogFormat } from './docker-log-file-format.js';
import { LineAssembler } from './line-assembler.js';
import type { LineSink, SourceCheckpoint } from './log-record.js';

/** Where a container's log driver keeps its files (`ContainerLogReader.logFiles`). */
export interface ContainerLogFiles {
  /** The container's id: a new one means the container was replaced. */
  readonly id: string;
  readonly format: DockerLogFormat;
  /** The file being written; rotated ones are `<path>.1`, `<path>.2.gz`… next to it. */
  readonly path: string;
}

/** The last whole line taken: Docker's `since` form and how many entries carry that instant. */
export interface LogPosition {
  readonly since: string;
  readonly count: number;
}

export interface FollowLogFilesOptions {
  readonly files: ContainerLogFiles;
  readonly start: LogPosition | undefined;
  readonly sink: LineSink;
  readonly key: string;
  readonly signal: AbortSignal;
  /** false: read what the files hold now, then return. */
  readonly follow: boolean;
  readonly clock: Clock;
  /** Still the container's files? Asked about once a second while idle; false ends the follow. */
  readonly current: () => Promise<boolean>;
  readonly pollMs?: number;
}

interface ChainFile {
  readonly path: string;
  readonly compressed: boolean;
  readonly ino: bigint | undefined;
  /** The first entry's time; undefined for an empty file (the newest, just created). */
  readonly first: bigint | undefined;
}

const READ_BYTES = 256 * 1024;
const HEAD_BYTES = 64 * 1024;
const DEFAULT_POLL_MS = 50;
const CURRENT_CHECK_MS = 1_000;

/**
 * Follows a container's log in its log driver's files, oldest to newest, as dockerd rotates and
 * compresses them. Files are ordered by their first entry's time, not by name: names shift at
 * every rotation, and a file being read stays open (readable after dockerd renamed, compressed
 * and deleted it). Resumes at a position (`since`, `count`), the same one the Docker API reader
 * uses, so the two readers take over from each other and a replaced container is read from its
 * start. Lines go to the sink as views of the read buffer; one checkpoint per read.
 */
export class LogFileFollower {
  readonly #options: FollowLogFilesOptions;
  readonly #entries: DockerLogEntries;
  #buffer = Buffer.allocUnsafe(READ_BYTES);
  readonly #partial = { stdout: new LineAssembler(), stderr: new LineAssembler() };
  /** Entries up to this instant (and `#skipCount` at it) were taken before. */
  #skipUntil: bigint | undefined;
  #skipCount = 0;
  // The last entry taken and the last whole line (what a checkpoint names).
  #high = -1;
  #low = -1;
  #count = 0;
  #done: { high: number; low: number; count: number } | undefined;
  #donePosition: LogPosition | undefined;

  constructor(options: FollowLogFilesOptions) {
    this.#options = options;
    this.#entries = new DockerLogEntries(options.files.format);
    if (options.start) {
      this.#skipUntil = sinceToNanos(options.start.since);
      this.#skipCount = options.start.count;
      this.#donePosition = options.start;
    }
  }

  /** Reads until the container is no longer the one named or the signal aborts; returns where it got. */
  async run(): Promise<LogPosition | undefined> {
    const { files, signal, follow } = this.#options;
    const chain = await listChain(files.path, files.format);
    const since = this.#skipUntil;
    // Start in the newest file that began at or before the position (or the oldest one).
    let file =
      since === undefined ? chain[0] : ([...chain].reverse().find((f) => f.first !== undefined && f.first <= since) ?? chain[0]);
    let lastCheck = this.#options.clock.now();
    while (file && !isAborted(signal)) {
      if (file.compressed) {
        await this.#readCompressed(file.path);
      } else {
        const handle = await openFile(file.path, file.ino);
        if (!handle) {
          // Rotated or compressed between the listing and the open: look for it again.
          const again = await listChain(files.path, files.format);
          const first = file.first;
          file =
            (first === undefined ? undefined : again.find((f) => f.first === first)) ??
            nextFile(again, undefined, this.#doneNanos());
          continue;
        }
        try {
          let offset = 0;
          for (;;) {
            offset = await this.#readFrom(handle, offset);
            if (isAborted(signal) && follow) break;
            // At the end: still the live file? Then wait for more (or stop when not following).
            const live = await stat(files.path, { bigint: true }).catch(() => undefined);
            if (live?.ino === (await handle.stat({ bigint: true })).ino) {
              if (!follow) break;
              const now = this.#options.clock.now();
              if (now - lastCheck >= CURRENT_CHECK_MS) {
                lastCheck = now;
                if (!(await this.#options.current())) {
                  offset = await this.#readFrom(handle, offset);
                  break;
                }
              }
              await this.#options.clock.sleep(this.#options.pollMs ?? DEFAULT_POLL_MS, signal).catch(() => undefined);
              if (isAborted(signal)) break;
              continue;
            }
            // Rotated away (or the container removed): what dockerd wrote before the rotation is read.
            offset = await this.#readFrom(handle, offset);
            break;
          }
        } finally {
          await handle.close();
        }
        if (isAborted(signal) && follow) break;
      }
      // The file that came after it; none yet between dockerd's rename and its new file.
      let next: ChainFile | undefined;
      for (;;) {
        const chain = await listChain(files.path, files.format);
        next = nextFile(chain, file.first ?? this.#firstSeen, this.#doneNanos(), file.ino);
        if (next || isAborted(signal) || !follow || !(await this.#options.current())) break;
        await this.#options.clock.sleep(this.#options.pollMs ?? DEFAULT_POLL_MS, signal).catch(() => undefined);
      }
      this.#firstSeen = undefined;
      file = next;
    }
    return this.#donePosition;
  }

  /** The first entry's time of the file being read (for an empty file when it was opened). */
  #firstSeen: bigint | undefined;

  #doneNanos(): bigint | undefined {
    return this.#donePosition === undefined ? undefined : sinceToNanos(this.#donePosition.since);
  }

  /** Reads whole entries from `offset` to the end of the file; returns the offset after them. */
  async #readFrom(handle: FileHandle, offset: number): Promise<number> {
    for (;;) {
      const { bytesRead } = await handle.read(this.#buffer, 0, this.#buffer.length, offset);
      if (bytesRead === 0) return offset;
      const used = await this.#take(this.#buffer, bytesRead);
      if (used === 0) {
        // One entry bigger than the buffer: grow it (bounded by the format's frame limit).
        if (this.#entries.needed > this.#buffer.length) {
          this.#buffer = Buffer.allocUnsafe(Math.max(this.#entries.needed, this.#buffer.length * 2));
          continue;
        }
        return offset;
      }
      offset += used;
      if (bytesRead < this.#buffer.length && used === bytesRead) return offset;
    }
  }

  async #readCompressed(path: string): Promise<void> {
    let pending: Buffer = Buffer.alloc(0);
    const stream = createReadStream(path).pipe(createGunzip());
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        const used = await this.#take(pending, pending.length);
        pending = pending.subarray(used);
      }
    } catch (error) {
      // Deleted by dockerd's rotation before it was opened: what it held is gone (see docs/logs.md).
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    } finally {
      stream.destroy();
    }
  }

  /** Hands the whole entries in `buffer[0, end)` to the sink; returns the bytes they took. */
  async #take(buffer: Buffer, end: number): Promise<number> {
    const entries = this.#entries;
    const { sink } = this.#options;
    entries.reset(buffer, 0, end);
    let wholeLines = false;
    while (entries.next()) {
      if (this.#skipUntil !== undefined) {
        const time = entries.timeNanos();
        if (time < this.#skipUntil) continue;
        if (time === this.#skipUntil && this.#skipCount > 0) {
          this.#skipCount--;
          continue;
        }
        this.#count = time === this.#skipUntil ? (this.#options.start?.count ?? 0) : 0;
        this.#high = entries.timeHigh;
        this.#low = entries.timeLow;
        this.#skipUntil = undefined;
      }
      this.#firstSeen ??= entries.timeNanos();
      if (entries.timeHigh === this.#high && entries.timeLow === this.#low) this.#count++;
      else {
        this.#high = entries.timeHigh;
        this.#low = entries.timeLow;
        this.#count = 1;
      }
      const millis = entries.millis();
      const assembler = entries.stderr ? this.#partial.stderr : this.#partial.stdout;
      if (entries.partial) {
        for (const piece of assembler.push(entries.line)) {
          if (!sink.writeLine(piece, millis)) await sink.drained();
        }
        continue;
      }
      const line = assembler.bytes === 0 ? entries.line : assembler.finish(entries.line);
      if (!sink.writeLine(line, millis)) await sink.drained();
      this.#done = { high: this.#high, low: this.#low, count: this.#count };
      wholeLines = true;
    }
    if (wholeLines && this.#done) this.#checkpoint();
    return entries.offset;
  }

  /** One checkpoint per read, at its last whole line. */
  #checkpoint(): void {
    const done = this.#done;
    if (!done) return;
    const nanos =
      this.#entries.format === 'local'
        ? BigInt(done.high) * 268_435_456n + BigInt(done.low)
        : BigInt(done.high) * 1_000_000_000n + BigInt(done.low);
    const position = { since: nanosToSince(nanos), count: done.count };
    this.#donePosition = position;
    const checkpoint: SourceCheckpoint = { key: this.#options.key, value: { ...position } };
    this.#options.sink.setCheckpoint(checkpoint);
  }
}

/**
 * The file to read after one that began at `after` (or, for a file that never held an entry,
 * after the last line taken): the one that began next, else the newest, still empty one.
 */
function nextFile(
  chain: readonly ChainFile[],
  after: bigint | undefined,
  taken: bigint | undefined,
  notIno?: bigint,
): ChainFile | undefined {
  const from = after ?? taken;
  const later = chain.filter(
    (f) => f.ino === undefined || f.ino !== notIno,
  ).filter((f) => f.first === undefined || from === undefined || f.first > from);
  return later[0];
}

/** The live file and its rotated copies (`.1`, `.2.gz`…), oldest first by their first entry. */
async function listChain(path: string, format: DockerLogFormat): Promise<ChainFile[]> {
  const dir = dirname(path);
  const name = basename(path);
  const rotated = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)(\\.gz)?$`);
  const names = (await readdir(dir).catch(() => [] as string[])).filter(
    (entry) => entry === name || rotated.test(entry),
  );
  const files: ChainFile[] = [];
  const seen = new Set<bigint>();
  for (const entry of names) {
    const file = join(dir, entry);
    const compressed = entry.endsWith('.gz');
    const info = compressed ? undefined : await stat(file, { bigint: true }).catch(() => undefined);
    if (!compressed && !info) continue;
    const first = await firstEntryTime(file, compressed, format).catch(() => null);
    if (first === null) continue; // gone meanwhile
    // `.1` and `.1.gz` side by side while dockerd compresses: one file.
    if (first !== undefined && seen.has(first)) continue;
    if (first !== undefined) seen.add(first);
    files.push({ path: file, compressed, ino: info?.ino, first });
  }
  return files.sort((a, b) =>
    a.first === b.first ? 0 : a.first === undefined ? 1 : b.first === undefined ? -1 : a.first < b.first ? -1 : 1,
  );
}

async function firstEntryTime(path: string, compressed: boolean, format: DockerLogFormat): Promise<bigint | undefined> {
  let head: Buffer;
  if (compressed) {
    const parts: Buffer[] = [];
    let bytes = 0;
    const stream = createReadStream(path).pipe(createGunzip());
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        parts.push(chunk);
        bytes += chunk.length;
        if (bytes >= HEAD_BYTES) break;
      }
    } finally {
      stream.destroy();
    }
    head = Buffer.concat(parts);
  } else {
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(HEAD_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }
  const entries = new DockerLogEntries(format);
  entries.reset(head, 0, head.length);
  return entries.next() ? entries.timeNanos() : undefined;
}

/** Opens `path` if it is still the file `ino` (else undefined: it was rotated meanwhile). */
async function openFile(path: string, ino: bigint | undefined): Promise<FileHandle | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch {
    return undefined;
  }
  if (ino !== undefined && (await handle.stat({ bigint: true })).ino !== ino) {
    await handle.close();
    return undefined;
  }
  return handle;
}

/** A function, so that TypeScript does not narrow `aborted` across awaits. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}
