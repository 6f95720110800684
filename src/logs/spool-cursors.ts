import { abortReason } from '../core/clock.js';
import type { MemoryLedger } from './spool-ledger.js';
import type { SpoolMemory } from './spool-memory.js';
import { EncodedRecordBatch } from './spool-records.js';
import { comparePositions } from './spool-segment-files.js';
import type { SpoolBatch, SpoolSegments } from './spool-segments.js';
import type { SpoolPosition } from './spool-state-file.js';
import type { DataWaiters } from './spool-waiters.js';

/** The segment number of positions in memory (SpoolMemory's stream offsets): above every file's. */
export const MEMORY = Number.MAX_SAFE_INTEGER;

export interface Consumer {
  /** Acknowledged by the destination. */
  acked: SpoolPosition;
  /** End of what was handed out by `read` (may be ahead of acked while a delivery is in flight). */
  readEnd: SpoolPosition;
  /** `acked` as a commit last saw it, and since when. */
  ackedBefore?: SpoolPosition;
  ackedSince?: number;
  dropped: number;
}

/**
 * Each destination's cursors over the spool (LogSpool): in the segment files, then in memory
 * (`MEMORY`), which always comes after the files. A destination reads the files to their end,
 * then memory; when records in memory are written to disk, cursors on them move there.
 */
export class SpoolCursors {
  readonly consumers = new Map<string, Consumer>();
  readonly #memory: SpoolMemory;
  readonly #segments: SpoolSegments;
  readonly #ledger: MemoryLedger;
  readonly #readers: DataWaiters;

  constructor(memory: SpoolMemory, segments: SpoolSegments, ledger: MemoryLedger, readers: DataWaiters) {
    this.#memory = memory;
    this.#segments = segments;
    this.#ledger = ledger;
    this.#readers = readers;
  }

  /** Each destination at its saved position, or at `first` (the oldest segment) without one. */
  place(names: readonly string[], saved: ReadonlyMap<string, SpoolPosition>, first: SpoolPosition): void {
    for (const name of names) {
      const at = saved.get(name);
      const position = at !== undefined && at.segment >= first.segment ? at : first;
      this.consumers.set(name, { acked: position, readEnd: position, dropped: 0 });
    }
  }

  get(name: string): Consumer {
    const consumer = this.consumers.get(name);
    if (!consumer) throw new Error(`unknown spool consumer ${name}`);
    return consumer;
  }

  /** See LogSpool.read. */
  async read(
    name: string,
    maxBytes: number,
    signal: AbortSignal,
    maxRecords: number,
    into: Buffer | undefined,
  ): Promise<SpoolBatch> {
    const consumer = this.get(name);
    for (;;) {
      if (signal.aborted) throw abortReason(signal);
      const at = consumer.readEnd;
      if (at.segment === MEMORY) {
        const held = this.#memory.read(at.offset, maxBytes, maxRecords, into);
        if (held !== undefined) {
          consumer.readEnd = { segment: MEMORY, offset: held.end };
          return {
            records: new EncodedRecordBatch(held.lines, held.count),
            from: at,
            next: consumer.readEnd,
            bytes: held.end - at.offset,
          };
        }
      } else {
        const batch = await this.#segments.read(at, maxBytes, maxRecords, into);
        if (batch) {
          consumer.readEnd = batch.next;
          return batch;
        }
        // Read to the end of the files: what comes next is in memory.
        if (consumer.readEnd === at && this.#segments.lag(at) === 0) {
          consumer.readEnd = { segment: MEMORY, offset: this.#memory.start };
          if (comparePositions(consumer.acked, at) === 0) consumer.acked = consumer.readEnd;
          continue;
        }
      }
      await this.#readers.wait(signal);
    }
  }

  /** See LogSpool.waitForUnread. */
  async waitForUnread(name: string, minBytes: number, signal: AbortSignal): Promise<void> {
    const consumer = this.get(name);
    while (this.lag(consumer.readEnd) < minBytes) {
      if (signal.aborted) throw abortReason(signal);
      await this.#readers.wait(signal);
    }
  }

  /**
   * Moves the consumer's acknowledged cursor to `position` (never back: a drop may have moved
   * it past what was in flight). Returns the new one when it is on disk, 'memory' when it is
   * in memory, undefined when it did not move.
   */
  ack(name: string, position: SpoolPosition): SpoolPosition | 'memory' | undefined {
    const consumer = this.get(name);
    const at = this.current(position);
    if (at === undefined || comparePositions(at, consumer.acked) <= 0) return undefined;
    consumer.acked = at;
    return at.segment === MEMORY ? 'memory' : at;
  }

  /** Bytes after `position`: on disk, then in memory. */
  lag(position: SpoolPosition): number {
    if (position.segment === MEMORY) return this.#memory.end - position.offset;
    return this.#segments.lag(position) + this.#memory.bytes;
  }

  /** True when the consumer's next read is served from memory (no file to read). */
  readsFromMemory(name: string): boolean {
    const at = this.get(name).readEnd;
    return at.segment === MEMORY || this.#segments.lag(at) === 0;
  }

  /**
   * `position` as it is now: one in memory whose records were written since is their place on
   * disk; undefined when its records were dropped (every destination had acknowledged them).
   */
  current(position: SpoolPosition): SpoolPosition | undefined {
    if (position.segment !== MEMORY || position.offset >= this.#memory.start) return position;
    return this.#ledger.onDisk(position.offset);
  }

  /** The stream offset every destination acknowledged (memory's start while one is on disk). */
  ackedByAll(): number {
    let acked = this.#memory.end;
    for (const { acked: at } of this.consumers.values())
      acked = Math.min(acked, at.segment === MEMORY ? at.offset : this.#memory.start);
    return acked;
  }

  /** Whether a destination with records to acknowledge acknowledged none for `ms`. */
  stalled(now: number, ms: number): boolean {
    let stalled = false;
    for (const consumer of this.consumers.values()) {
      if (consumer.acked !== consumer.ackedBefore) {
        consumer.ackedBefore = consumer.acked;
        consumer.ackedSince = now;
      } else if (now - (consumer.ackedSince ?? now) >= ms && this.lag(consumer.acked) > 0) stalled = true;
    }
    return stalled;
  }

  /**
   * Saves (in `saved`) the cursors in memory as the files' `end`: everything on disk is
   * acknowledged, and after a restart the sources read again what was in memory. Returns
   * whether one changed.
   */
  saveInMemory(saved: Map<string, SpoolPosition>, end: SpoolPosition): boolean {
    let changed = false;
    for (const [name, consumer] of this.consumers) {
      const before = saved.get(name);
      if (consumer.acked.segment !== MEMORY || (before && comparePositions(before, end) === 0)) continue;
      saved.set(name, end);
      changed = true;
    }
    return changed;
  }

  /** The oldest segment a destination has not acknowledged to its end. */
  oldestSegment(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const consumer of this.consumers.values()) oldest = Math.min(oldest, consumer.acked.segment);
    return oldest;
  }

  /** Records in memory before stream offset `to` went to disk: cursors on them move there. */
  written(to: number): void {
    for (const consumer of this.consumers.values()) {
      if (consumer.acked.segment === MEMORY && consumer.acked.offset < to)
        consumer.acked = this.current(consumer.acked) ?? consumer.acked;
      if (consumer.readEnd.segment === MEMORY && consumer.readEnd.offset < to)
        consumer.readEnd = this.current(consumer.readEnd) ?? consumer.readEnd;
    }
  }
}
