import { stat, type FileHandle } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Clock } from '../core/clock.js';
import {
  DockerLogEntries,
  nanosToSince,
  sinceToNanos,
  type DockerLogFormat,
} from './docker-log-file-format.js';
import { listChain, nextFile, openFile, type ChainFile } from './docker-log-file-chain.js';
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

const READ_BYTES = 256 * 1024;
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

  /** The last whole line taken (or the start): where a follow that broke resumes. */
  get position(): LogPosition | undefined {
    return this.#donePosition;
  }

  /** Reads until the container is no longer the one named or the signal aborts; returns where it got. */
  async run(): Promise<LogPosition | undefined> {
    const { files, signal, follow } = this.#options;
    const chain = await listChain(files.path, files.format);
    const since = this.#skipUntil;
    // Start in the newest file that began at or before the position (or the oldest one).
    let file =
      since === undefined
        ? chain[0]
        : ([...chain].reverse().find((f) => f.first !== undefined && f.first <= since) ?? chain[0]);
    let lastCheck = this.#options.clock.now();
    while (file && !isAborted(signal)) {
      if (file.compressed) {
        if (!(await this.#readCompressed(file.path, file.ino, file.first))) {
          const first = file.first;
          file = (await listChain(files.path, files.format)).find((f) => f.first === first);
          continue;
        }
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
              await this.#options.clock
                .sleep(this.#options.pollMs ?? DEFAULT_POLL_MS, signal)
                .catch(() => undefined);
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
        await this.#options.clock
          .sleep(this.#options.pollMs ?? DEFAULT_POLL_MS, signal)
          .catch(() => undefined);
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

  /**
   * Reads a rotated, compressed file. Its name may already belong to another file (dockerd
   * shifts `.1.gz` to `.2.gz` at each rotation): false when its first entry is not `first`.
   */
  async #readCompressed(path: string, ino: bigint | undefined, first: bigint | undefined): Promise<boolean> {
    let pending: Buffer = Buffer.alloc(0);
    const handle = await openFile(path, ino);
    if (!handle) return false;
    const stream = handle.createReadStream().pipe(createGunzip());
    let checked = first === undefined;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        if (!checked) {
          const head = new DockerLogEntries(this.#options.files.format);
          head.reset(pending, 0, pending.length);
          if (!head.next()) continue;
          if (head.timeNanos() !== first) return false;
          checked = true;
        }
        const used = await this.#take(pending, pending.length);
        pending = pending.subarray(used);
      }
      return checked;
    } catch (error) {
      // Deleted by dockerd's rotation before it was opened: what it held is gone (see docs/logs.md).
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return checked;
      throw error;
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
    // The position after the last whole line (kept in locals: no object per line).
    let doneHigh = 0;
    let doneLow = 0;
    let doneCount = 0;
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
      if (assembler.bytes > 0) {
        if (!sink.writeLine(assembler.finish(entries.line), millis)) await sink.drained();
      } else if (sink.writeBytes !== undefined) {
        if (!sink.writeBytes(entries.lineBuffer, entries.lineStart, entries.lineEnd, millis))
          await sink.drained();
      } else if (!sink.writeLine(entries.line, millis)) await sink.drained();
      doneHigh = this.#high;
      doneLow = this.#low;
      doneCount = this.#count;
      wholeLines = true;
    }
    if (wholeLines) {
      this.#done = { high: doneHigh, low: doneLow, count: doneCount };
      this.#checkpoint();
    }
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

/** A function, so that TypeScript does not narrow `aborted` across awaits. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}
