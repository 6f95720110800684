import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { abortReason } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { CheckpointValue, LogRecord, LogSink, SourceCheckpoint } from './log-record.js';
import { comparePositions, countLines } from './spool-segment-files.js';
import { PendingRecords } from './spool-pending.js';
import { encodeRecord } from './spool-records.js';
import { SpoolSegments, type SpoolBatch } from './spool-segments.js';
import { SpoolStateFile, type SpoolPosition } from './spool-state-file.js';

export interface LogSpoolOptions {
  readonly dir: string;
  /** Destination names; each gets its own cursor. */
  readonly consumers: readonly string[];
  /** Disk bound. Past it the oldest segment is dropped and its unsent records are counted. */
  readonly maxDiskBytes?: number;
  readonly segmentBytes?: number;
  /** Memory bound of records not yet written: `write` returns false past it (backpressure). */
  readonly memoryBytes?: number;
  /** How long a record may wait in memory before it is written and fsync'd. */
  readonly flushIntervalMs?: number;
  readonly log?: Logger | undefined;
}

// 256 MiB of spool covers a CloudWatch outage of about an hour at 70 KB/s of logs (a busy app)
// while staying small next to an 8 GiB root volume; 8 MiB segments keep a dropped or deleted
// unit small. 4 MiB in memory is two or three flushes at 50,000 lines/s.
const DEFAULTS = {
  maxDiskBytes: 256 * 1024 * 1024,
  segmentBytes: 8 * 1024 * 1024,
  memoryBytes: 4 * 1024 * 1024,
  flushIntervalMs: 100,
};
/** A flush starts at once when this much is pending, without waiting for the interval. */
const EAGER_FLUSH_BYTES = 1024 * 1024;

interface Consumer {
  /** Acknowledged by the destination (persisted). */
  acked: SpoolPosition;
  /** End of what was handed out by `read` (may be ahead of acked while a delivery is in flight). */
  readEnd: SpoolPosition;
  dropped: number;
}

export type { SpoolBatch } from './spool-segments.js';

export interface SpoolStats {
  readonly diskBytes: number;
  readonly segments: number;
  readonly pendingBytes: number;
  /** Per destination: records dropped because the disk bound was hit while it lagged. */
  readonly dropped: Readonly<Record<string, number>>;
  /** Per destination: bytes written but not yet acknowledged. */
  readonly lagBytes: Readonly<Record<string, number>>;
}

/**
 * The bounded, disk-backed buffer between sources and destinations: records are appended to
 * NDJSON segment files (`[timestamp, source, message]` per line) and fsync'd in group commits;
 * each destination reads with its own cursor, so a slow or failing destination never holds back
 * the others. Memory is bounded by `memoryBytes` (writers wait), disk by `maxDiskBytes` (the
 * oldest segment goes, and what a destination had not yet sent from it is counted as dropped).
 */
export class LogSpool implements LogSink {
  readonly #options: typeof DEFAULTS;
  readonly #state: SpoolStateFile;
  readonly #log: Logger | undefined;
  readonly #segments: SpoolSegments;
  readonly #consumers = new Map<string, Consumer>();
  /** Records not yet written (and fsync'd). */
  readonly #pending = new PendingRecords();
  /** Bytes taken from #pending by the flush being written. */
  #flushingBytes = 0;
  #pendingCheckpoints = new Map<string, CheckpointValue>();
  #flushChain: Promise<void> = Promise.resolve();
  /** A flush is chained but has not started: later writes will be in it, no need for another. */
  #flushQueued = false;
  #timer: NodeJS.Timeout | undefined;
  #drainWaiters: (() => void)[] = [];
  #dataWaiters = new Set<() => void>();
  #flushError: unknown;
  #closed = false;
  readonly #sourceJsonCache = new Map<string, { text: string; bytes: Buffer }>();

  private constructor(options: LogSpoolOptions, segments: SpoolSegments) {
    this.#options = {
      maxDiskBytes: options.maxDiskBytes ?? DEFAULTS.maxDiskBytes,
      segmentBytes: options.segmentBytes ?? DEFAULTS.segmentBytes,
      memoryBytes: options.memoryBytes ?? DEFAULTS.memoryBytes,
      flushIntervalMs: options.flushIntervalMs ?? DEFAULTS.flushIntervalMs,
    };
    this.#state = new SpoolStateFile(join(options.dir, 'state.json'));
    this.#log = options.log;
    this.#segments = segments;
  }

  static async open(options: LogSpoolOptions): Promise<LogSpool> {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const spool = new LogSpool(
      options,
      await SpoolSegments.open(options.dir, options.segmentBytes ?? DEFAULTS.segmentBytes),
    );
    await spool.#state.load();
    const first = spool.#segments.start;
    for (const name of options.consumers) {
      const saved = spool.#state.consumers.get(name);
      const position = saved !== undefined && saved.segment >= first.segment ? saved : first;
      spool.#consumers.set(name, { acked: position, readEnd: position, dropped: 0 });
    }
    await spool.#deleteConsumedSegments();
    return spool;
  }

  write(record: LogRecord, checkpoint: SourceCheckpoint | undefined): boolean {
    if (this.#closed) throw new Error('log spool is closed');
    this.#pending.appendLine(encodeRecord(record, this.#sourceJson(record.source).text));
    return this.#written(checkpoint);
  }

  /**
   * The same as `write` for a message that is plain (isPlainMessage in spool-records.ts: its
   * bytes are its own JSON), copied from the source's buffer (`message[start, end)`) without
   * becoming a string.
   */
  writePlain(
    timestamp: number,
    source: string,
    message: Buffer,
    checkpoint: SourceCheckpoint | undefined,
    start = 0,
    end = message.length,
  ): boolean {
    if (this.#closed) throw new Error('log spool is closed');
    if (!Number.isSafeInteger(timestamp) || timestamp < 0)
      return this.write({ timestamp, source, message: message.toString('utf8', start, end) }, checkpoint);
    this.#pending.appendPlain(timestamp, this.#sourceJson(source).bytes, message, start, end);
    return this.#written(checkpoint);
  }

  #written(checkpoint: SourceCheckpoint | undefined): boolean {
    if (checkpoint) this.#pendingCheckpoints.set(checkpoint.key, checkpoint.value);
    if (this.#pendingBytes >= EAGER_FLUSH_BYTES) this.#scheduleFlush(0);
    else this.#scheduleFlush(this.#options.flushIntervalMs);
    return this.#pendingBytes < this.#options.memoryBytes;
  }

  /** Checkpoint-only update (a source skipped input, e.g. lines it had already delivered). */
  setCheckpoint(checkpoint: SourceCheckpoint): void {
    this.#pendingCheckpoints.set(checkpoint.key, checkpoint.value);
    this.#scheduleFlush(this.#options.flushIntervalMs);
  }

  drained(): Promise<void> {
    if (this.#pendingBytes < this.#options.memoryBytes) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  checkpoint(key: string): CheckpointValue | undefined {
    return this.#state.sources.get(key);
  }

  /** Writes and fsyncs everything written so far, then persists the source checkpoints. */
  async flush(): Promise<void> {
    this.#flushQueued = true;
    this.#flushChain = this.#flushChain.then(() => {
      this.#flushQueued = false;
      return this.#flushPending();
    });
    await this.#flushChain;
    if (this.#flushError !== undefined) {
      const error = this.#flushError;
      this.#flushError = undefined;
      throw error instanceof Error ? error : new Error('log spool write failed', { cause: error });
    }
  }

  /**
   * The records after the consumer's last read, up to about `maxBytes` and at most `maxRecords`
   * (at least one record); waits for data. `into`: read into this buffer when the records fit
   * (the batch is a view of it: the caller must not reuse it while the batch is in use).
   */
  async read(
    consumerName: string,
    maxBytes: number,
    signal: AbortSignal,
    maxRecords = Number.POSITIVE_INFINITY,
    into?: Buffer,
  ): Promise<SpoolBatch> {
    const consumer = this.#consumer(consumerName);
    for (;;) {
      if (signal.aborted) throw abortReason(signal);
      const batch = await this.#segments.read(consumer.readEnd, maxBytes, maxRecords, into);
      if (batch) {
        consumer.readEnd = batch.next;
        return batch;
      }
      await this.#waitForData(signal);
    }
  }

  /**
   * Resolves once at least `minBytes` were written (and flushed) past what the consumer has read
   * (a destination lingering for a fuller delivery stops waiting as soon as there is one).
   */
  async waitForUnread(consumerName: string, minBytes: number, signal: AbortSignal): Promise<void> {
    const consumer = this.#consumer(consumerName);
    while (this.#segments.lag(consumer.readEnd) < minBytes) {
      if (signal.aborted) throw abortReason(signal);
      await this.#waitForData(signal);
    }
  }

  /** The destination acknowledged everything before `position`: persist, free segments. */
  async ack(consumerName: string, position: SpoolPosition): Promise<void> {
    const consumer = this.#consumer(consumerName);
    // A drop may have moved the cursor past what was in flight: never move it back.
    if (comparePositions(position, consumer.acked) <= 0) return;
    consumer.acked = position;
    this.#state.consumers.set(consumerName, position);
    await this.#deleteConsumedSegments();
    await this.#state.save();
  }

  /** Rewinds the read cursor to the acknowledged one (a delivery failed and was abandoned). */
  rewind(consumerName: string): void {
    const consumer = this.#consumer(consumerName);
    consumer.readEnd = consumer.acked;
  }

  /** Bytes written (and flushed) past what the consumer has read. */
  unreadBytes(consumerName: string): number {
    return this.#segments.lag(this.#consumer(consumerName).readEnd);
  }

  /** True when records were written (and flushed) past what the consumer has read. */
  hasUnread(consumerName: string): boolean {
    return this.#segments.lag(this.#consumer(consumerName).readEnd) > 0;
  }

  /** True when the consumer has acknowledged everything written and flushed so far. */
  caughtUp(consumerName: string): boolean {
    const { acked } = this.#consumer(consumerName);
    return this.#pendingBytes === 0 && this.#segments.lag(acked) === 0;
  }

  stats(): SpoolStats {
    const dropped: Record<string, number> = {};
    const lagBytes: Record<string, number> = {};
    for (const [name, consumer] of this.#consumers) {
      dropped[name] = consumer.dropped;
      lagBytes[name] = this.#segments.lag(consumer.acked);
    }
    return {
      diskBytes: this.#segments.diskBytes,
      segments: this.#segments.list.length,
      pendingBytes: this.#pendingBytes,
      dropped,
      lagBytes,
    };
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#segments.close();
    for (const wake of this.#dataWaiters) wake();
  }

  /** Records written to the spool but not yet on disk. */
  get #pendingBytes(): number {
    return this.#pending.bytes + this.#flushingBytes;
  }

  #sourceJson(source: string): { text: string; bytes: Buffer } {
    let json = this.#sourceJsonCache.get(source);
    if (json === undefined) {
      const text = JSON.stringify(source);
      json = { text, bytes: Buffer.from(text, 'utf8') };
      this.#sourceJsonCache.set(source, json);
    }
    return json;
  }

  #consumer(name: string): Consumer {
    const consumer = this.#consumers.get(name);
    if (!consumer) throw new Error(`unknown spool consumer ${name}`);
    return consumer;
  }

  #scheduleFlush(delayMs: number): void {
    if (this.#flushQueued) return;
    if (this.#timer !== undefined) {
      if (delayMs > 0) return;
      clearTimeout(this.#timer);
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch((error: unknown) => {
        this.#log?.error({ err: error }, 'Failed to write the log spool');
      });
    }, delayMs);
    this.#timer.unref();
  }

  async #flushPending(): Promise<void> {
    if (this.#pending.bytes === 0 && this.#pendingCheckpoints.size === 0) return;
    const data = this.#pending.take();
    const marks = this.#pending.marks;
    this.#flushingBytes = data.length;
    const checkpoints = this.#pendingCheckpoints;
    this.#pendingCheckpoints = new Map();
    /** How much of `data` is written and fsync'd. */
    const progress = { done: 0 };
    try {
      await this.#segments.append(data, progress, marks);
      this.#pending.recycle(data);
      // The records are on disk: readers may have them now, not only after the state save (an
      // fdatasync more on every delivery's path; a state file that fails would hold them back).
      if (data.length > 0) this.#wakeReaders();
      // Only now, with the records on disk, may the sources' checkpoints move past them.
      for (const [key, value] of checkpoints) this.#state.sources.set(key, value);
      await this.#enforceDiskBound();
      await this.#state.save();
    } catch (error) {
      // Keep the records not yet on disk: put them back in front, so the next flush retries them.
      this.#pending.putBack(data.subarray(progress.done));
      for (const [key, value] of checkpoints)
        if (!this.#pendingCheckpoints.has(key)) this.#pendingCheckpoints.set(key, value);
      this.#flushError = error;
      this.#scheduleFlush(1000);
      return;
    } finally {
      this.#flushingBytes = 0;
    }
    if (this.#pendingBytes < this.#options.memoryBytes) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
    this.#wakeReaders();
  }

  #wakeReaders(): void {
    for (const wake of this.#dataWaiters) wake();
    this.#dataWaiters.clear();
  }

  #waitForData(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.#dataWaiters.delete(wake);
        resolve();
      };
      const onAbort = (): void => {
        this.#dataWaiters.delete(wake);
        reject(abortReason(signal));
      };
      this.#dataWaiters.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async #deleteConsumedSegments(): Promise<void> {
    let oldest = Number.POSITIVE_INFINITY;
    for (const consumer of this.#consumers.values()) oldest = Math.min(oldest, consumer.acked.segment);
    await this.#segments.deleteBefore(oldest);
  }

  async #enforceDiskBound(): Promise<void> {
    const segments = this.#segments;
    let total = segments.diskBytes;
    while (total > this.#options.maxDiskBytes && segments.list.length > 1) {
      const victim = segments.list[0];
      if (!victim?.sealed) break;
      const next: SpoolPosition = { segment: victim.id + 1, offset: 0 };
      for (const [name, consumer] of this.#consumers) {
        const from =
          comparePositions(consumer.readEnd, consumer.acked) > 0 ? consumer.readEnd : consumer.acked;
        if (from.segment > victim.id) continue;
        const lost = await countLines(segments.path(victim.id), from.offset);
        consumer.dropped += lost;
        consumer.acked = next;
        if (comparePositions(consumer.readEnd, next) < 0) consumer.readEnd = next;
        this.#state.consumers.set(name, next);
        if (lost > 0) {
          this.#log?.warn(
            { destination: name, dropped: lost, droppedTotal: consumer.dropped, segment: victim.id },
            'Dropped unsent log records: the spool is full',
          );
        }
      }
      total -= victim.bytes;
      await segments.deleteOldest();
    }
  }
}
