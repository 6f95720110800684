import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/logger.js';
import type { CheckpointValue, LogRecord, LogSink, SourceCheckpoint } from './log-record.js';
import { SpoolMemory } from './spool-memory.js';
import { encodeRecord, sourceJson } from './spool-records.js';
import { SpoolSegments, type Placed, type SpoolBatch } from './spool-segments.js';
import { SpoolStateFile, type SpoolPosition } from './spool-state-file.js';
import { dropOldestSegments } from './spool-disk-bound.js';
import { MemoryLedger } from './spool-ledger.js';
import { DataWaiters } from './spool-waiters.js';
import { SpoolCursors } from './spool-cursors.js';

export interface LogSpoolOptions {
  readonly dir: string;
  /** Destination names; each gets its own cursor. */
  readonly consumers: readonly string[];
  /** Disk bound. Past it the oldest segment is dropped and its unsent records are counted. */
  readonly maxDiskBytes?: number;
  readonly segmentBytes?: number;
  /** Memory bound of records not on disk: `write` returns false past it (backpressure). */
  readonly memoryBytes?: number;
  /**
   * How often what every destination acknowledged is dropped and the source checkpoints are
   * saved; also how long a record of a source that cannot read it again (the agent's own log)
   * may wait in memory before it is written and fsync'd.
   */
  readonly flushIntervalMs?: number;
  /** How long a record may wait in memory for the destinations before it is written to disk. */
  readonly holdMs?: number;
  readonly log?: Logger | undefined;
}

// 256 MiB of spool covers a CloudWatch outage of about an hour at 70 KB/s of logs (a busy app)
// while staying small next to an 8 GiB root volume; 8 MiB segments keep a dropped or deleted
// unit small. 1 MiB in memory (CloudWatch Logs' requests in flight) bounds what a crash makes
// the sources read again. A record waits in memory for up to 2 s, twice a destination's linger
// (destination-worker.ts): a quiet app's lines are delivered before they would be written.
const DEFAULTS = {
  maxDiskBytes: 256 * 1024 * 1024,
  segmentBytes: 8 * 1024 * 1024,
  memoryBytes: 1024 * 1024,
  flushIntervalMs: 100,
  holdMs: 2000,
};

/** A destination that acknowledged nothing for this long while memory is half full is stalled. */
const STALLED_MS = 250;

export type { SpoolBatch } from './spool-segments.js';

export interface SpoolStats {
  readonly diskBytes: number;
  readonly segments: number;
  /** Records held in memory only (not on disk). */
  readonly pendingBytes: number;
  /** Per destination: records dropped because the disk bound was hit while it lagged. */
  readonly dropped: Readonly<Record<string, number>>;
  /** Per destination: bytes written but not yet acknowledged. */
  readonly lagBytes: Readonly<Record<string, number>>;
}

/**
 * The bounded buffer between sources and destinations. Records (`[timestamp, source, message]`
 * NDJSON lines) are held in memory, where the destinations read them, each with its own cursor,
 * so a slow or failing destination never holds back the others. What every destination
 * acknowledged is dropped, and only then do the sources' checkpoints move past it (a crash makes
 * a source read it again: at-least-once). What a destination has not acknowledged within
 * `holdMs`, or while one is stalled and memory is half full, is written to segment files and
 * fsync'd (the overflow: an outage, S3's hour-long chunks); readers go on from there. Memory is
 * bounded by `memoryBytes` (writers wait), disk by `maxDiskBytes` (the oldest segment goes, and
 * what a destination had not yet sent from it is counted as dropped).
 */
export class LogSpool implements LogSink {
  readonly #options: typeof DEFAULTS;
  readonly #state: SpoolStateFile;
  readonly #log: Logger | undefined;
  readonly #segments: SpoolSegments;
  readonly #memory = new SpoolMemory();
  readonly #ledger = new MemoryLedger();
  readonly #readers = new DataWaiters();
  readonly #cursors: SpoolCursors;
  #flushChain: Promise<void> = Promise.resolve();
  #flushQueued = false;
  #timer: NodeJS.Timeout | undefined;
  #timerNow = false;
  #drainWaiters: (() => void)[] = [];
  #flushError: unknown;
  /** A save failed: the next commit saves whatever else it finds. */
  #stateDirty = false;
  #closed = false;
  readonly #sources = new Map<string, { text: string; bytes: Buffer; replayable: boolean }>();

  private constructor(options: LogSpoolOptions, segments: SpoolSegments) {
    this.#options = {
      maxDiskBytes: options.maxDiskBytes ?? DEFAULTS.maxDiskBytes,
      segmentBytes: options.segmentBytes ?? DEFAULTS.segmentBytes,
      memoryBytes: options.memoryBytes ?? DEFAULTS.memoryBytes,
      flushIntervalMs: options.flushIntervalMs ?? DEFAULTS.flushIntervalMs,
      holdMs: options.holdMs ?? DEFAULTS.holdMs,
    };
    this.#state = new SpoolStateFile(join(options.dir, 'state.json'));
    this.#log = options.log;
    this.#segments = segments;
    this.#cursors = new SpoolCursors(this.#memory, segments, this.#ledger, this.#readers);
  }

  static async open(options: LogSpoolOptions): Promise<LogSpool> {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const spool = new LogSpool(
      options,
      await SpoolSegments.open(options.dir, options.segmentBytes ?? DEFAULTS.segmentBytes),
    );
    await spool.#state.load();
    // A saved position may name a segment deleted since: new ones come after it.
    for (const saved of spool.#state.consumers.values()) spool.#segments.reserveFrom(saved.segment + 1);
    spool.#cursors.place(options.consumers, spool.#state.consumers, spool.#segments.start);
    await spool.#segments.deleteBefore(spool.#cursors.oldestSegment());
    return spool;
  }

  write(record: LogRecord, checkpoint: SourceCheckpoint | undefined): boolean {
    if (this.#closed) throw new Error('log spool is closed');
    const source = this.#source(record.source);
    if (!source.replayable) this.#ledger.volatile(this.#memory.end);
    this.#memory.appendLine(encodeRecord(record, source.text));
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
    const json = this.#source(source);
    if (!json.replayable) this.#ledger.volatile(this.#memory.end);
    this.#memory.appendPlain(timestamp, json.bytes, message, start, end);
    return this.#written(checkpoint);
  }

  /** The source reads again from its checkpoint after a restart: its records may wait in memory. */
  replayable(source: string): void {
    this.#source(source).replayable = true;
  }

  #written(checkpoint: SourceCheckpoint | undefined): boolean {
    if (checkpoint) this.#ledger.checkpoint(this.#memory.end, checkpoint.key, checkpoint.value);
    this.#readers.wakeSoon();
    if (this.#memory.bytes < this.#options.memoryBytes) {
      this.#scheduleFlush(this.#options.flushIntervalMs);
      return true;
    }
    this.#scheduleFlush(0);
    return false;
  }

  /** Checkpoint-only update (a source skipped input, e.g. lines it had already delivered). */
  setCheckpoint(checkpoint: SourceCheckpoint): void {
    this.#ledger.checkpoint(this.#memory.end, checkpoint.key, checkpoint.value);
    this.#scheduleFlush(this.#options.flushIntervalMs);
  }

  drained(): Promise<void> {
    if (this.#memory.bytes < this.#options.memoryBytes) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  checkpoint(key: string): CheckpointValue | undefined {
    return this.#state.sources.get(key);
  }

  /**
   * Writes and fsyncs every record not yet acknowledged by all (`force` false: only what must
   * not wait longer, as the periodic commit does), then saves the checkpoints; throws what
   * failed since the last call.
   */
  async flush(force = true): Promise<void> {
    await this.#commit(force);
    if (this.#flushError !== undefined) {
      const error = this.#flushError;
      this.#flushError = undefined;
      throw error instanceof Error ? error : new Error('log spool write failed', { cause: error });
    }
  }

  /**
   * The records after the consumer's last read, up to about `maxBytes` and at most `maxRecords`
   * (at least one record); waits for data. `into`: read into this buffer when the records must
   * be copied (the batch may be a view of it: the caller must not reuse it while the batch is in use).
   */
  async read(
    consumerName: string,
    maxBytes: number,
    signal: AbortSignal,
    maxRecords = Number.POSITIVE_INFINITY,
    into?: Buffer,
  ): Promise<SpoolBatch> {
    return this.#cursors.read(consumerName, maxBytes, signal, maxRecords, into);
  }

  /**
   * Resolves once at least `minBytes` were written past what the consumer has read (a
   * destination lingering for a fuller delivery stops waiting as soon as there is one).
   */
  waitForUnread(consumerName: string, minBytes: number, signal: AbortSignal): Promise<void> {
    return this.#cursors.waitForUnread(consumerName, minBytes, signal);
  }

  /** The destination acknowledged everything before `position`: persist (on disk), free memory. */
  async ack(consumerName: string, position: SpoolPosition): Promise<void> {
    const at = this.#cursors.ack(consumerName, position);
    if (at === 'memory') {
      // Commit now, not at the next interval: a writer may wait for room, and the sources'
      // checkpoints move on (what a crash makes them read again, and send twice, stays small).
      this.#scheduleFlush(0);
    } else if (at !== undefined) {
      this.#state.consumers.set(consumerName, at);
      await this.#save();
    }
  }

  /** Rewinds the read cursor to the acknowledged one (a delivery failed and was abandoned). */
  rewind(consumerName: string): void {
    this.#cursors.get(consumerName).readEnd = this.#cursors.get(consumerName).acked;
  }

  /** Bytes written past what the consumer has read. */
  unreadBytes(consumerName: string): number {
    return this.#cursors.lag(this.#cursors.get(consumerName).readEnd);
  }

  /** True when the consumer's next read is served from memory (no file to read). */
  readsFromMemory(consumerName: string): boolean {
    return this.#cursors.readsFromMemory(consumerName);
  }

  /** True when records were written past what the consumer has read. */
  hasUnread(consumerName: string): boolean {
    return this.#cursors.lag(this.#cursors.get(consumerName).readEnd) > 0;
  }

  /** True when the consumer has acknowledged everything written so far. */
  caughtUp(consumerName: string): boolean {
    return this.#cursors.lag(this.#cursors.get(consumerName).acked) === 0;
  }

  stats(): SpoolStats {
    const dropped: Record<string, number> = {};
    const lagBytes: Record<string, number> = {};
    for (const [name, consumer] of this.#cursors.consumers) {
      dropped[name] = consumer.dropped;
      lagBytes[name] = this.#cursors.lag(consumer.acked);
    }
    return {
      diskBytes: this.#segments.diskBytes,
      segments: this.#segments.list.length,
      pendingBytes: this.#memory.bytes,
      dropped,
      lagBytes,
    };
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#segments.close();
    this.#readers.wake();
  }

  #source(source: string): { text: string; bytes: Buffer; replayable: boolean } {
    let json = this.#sources.get(source);
    if (json === undefined) this.#sources.set(source, (json = sourceJson(source)));
    return json;
  }

  #scheduleFlush(delayMs: number): void {
    if (this.#flushQueued) return;
    if (this.#timer !== undefined) {
      if (delayMs > 0 || this.#timerNow) return;
      clearTimeout(this.#timer);
    }
    this.#timerNow = delayMs === 0;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerNow = false;
      this.flush(false).catch((error: unknown) => {
        this.#log?.error({ err: error }, 'Failed to write the log spool');
      });
    }, delayMs);
    this.#timer.unref();
  }

  /** Chains one commit (see #commitNow); `force`: write everything not acknowledged by all. */
  #commit(force: boolean): Promise<void> {
    this.#flushQueued = true;
    this.#flushChain = this.#flushChain.then(() => {
      this.#flushQueued = false;
      return this.#commitNow(force);
    });
    return this.#flushChain;
  }

  /**
   * Drops what every destination acknowledged; writes to disk (and fsyncs) what must not wait
   * longer in memory; then saves the source checkpoints of what is acknowledged or on disk, and
   * the cursors.
   */
  async #commitNow(force: boolean): Promise<void> {
    const memory = this.#memory;
    memory.dropBefore(this.#cursors.ackedByAll(), true);
    const now = Date.now();
    const waited = this.#ledger.tick(memory.start, memory.end, now);
    // A destination that acknowledged nothing for STALLED_MS while memory is half full is
    // stalled (an outage): the others must not wait for it.
    const stalled = this.#cursors.stalled(now, STALLED_MS);
    const write =
      memory.bytes > 0 &&
      (force ||
        this.#ledger.holdsVolatile(memory.start) ||
        waited >= this.#options.holdMs ||
        (stalled && memory.bytes >= this.#options.memoryBytes / 2));
    if (write) await this.#writeMemory();
    // The sources' checkpoints move past records that are acknowledged by all or on disk.
    const reached = this.#ledger.takeDurable(memory.start);
    for (const { key, value } of reached) this.#state.sources.set(key, value);
    const moved = this.#cursors.saveInMemory(this.#state.consumers, this.#segments.end);
    if (write) await this.#dropOldestSegments(0).catch((error: unknown) => (this.#flushError = error));
    if (moved || write || reached.length > 0 || this.#stateDirty) await this.#save();
    if (memory.bytes < this.#options.memoryBytes) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (memory.bytes > 0 || this.#ledger.pendingCheckpoints)
      this.#scheduleFlush(this.#flushError === undefined ? this.#options.flushIntervalMs : 1000);
  }

  /** Writes the records in memory to the segment files; the readers in memory move there. */
  async #writeMemory(): Promise<void> {
    const memory = this.#memory;
    const from = memory.start;
    const { data, marks } = memory.copy(from, memory.end);
    const progress = { done: 0 };
    const placed: Placed[] = [];
    try {
      await this.#dropOldestSegments(data.length);
      await this.#segments.append(data, progress, marks, placed);
    } catch (error) {
      this.#flushError = error;
    }
    if (progress.done === 0) return;
    const to = from + progress.done;
    this.#ledger.placed(from, placed, this.#segments.start.segment);
    // Readers may still hold views of these records: their chunks are not filled again.
    memory.dropBefore(to, false);
    this.#cursors.written(to);
    this.#readers.wake();
  }

  /** The disk bound (see spool-disk-bound.ts), `incomingBytes` about to be written included. */
  #dropOldestSegments(incomingBytes: number): Promise<void> {
    return dropOldestSegments(
      this.#segments,
      this.#cursors.consumers,
      this.#state,
      this.#options,
      this.#log,
      incomingBytes,
    );
  }

  /**
   * Deletes the segments every destination is past and saves state.json. A failure (a full
   * disk) is kept for flush() and retried by the next commit, never thrown at a destination.
   */
  async #save(): Promise<void> {
    try {
      await this.#segments.deleteBefore(this.#cursors.oldestSegment());
      await this.#state.save();
      this.#stateDirty = false;
    } catch (error) {
      this.#flushError = error;
      this.#stateDirty = true;
      this.#scheduleFlush(1000);
    }
  }
}
