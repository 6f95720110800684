import type { CheckpointValue } from './log-record.js';
import type { Placed } from './spool-segments.js';
import type { SpoolPosition } from './spool-state-file.js';

/**
 * What LogSpool notes about the records it holds in memory, by offset in its stream (see
 * SpoolMemory): the sources' checkpoints (each applies once the stream is durable up to its
 * end), how long the oldest record has waited, whether a record of a source that cannot read it
 * again is held, and where written records went on disk.
 */
export class MemoryLedger {
  #checkpoints: { end: number; key: string; value: CheckpointValue }[] = [];
  /** (stream end, time) at each commit: records before `end` were there at `at`. */
  #ticks: { end: number; at: number }[] = [];
  #volatileFrom: number | undefined;
  /** The last writes' pieces, as stream offsets (positions still in flight may name them). */
  #placed: Placed[] = [];

  get pendingCheckpoints(): boolean {
    return this.#checkpoints.length > 0;
  }

  /** A source's checkpoint, reached once the stream is durable up to `end`. */
  checkpoint(end: number, key: string, value: CheckpointValue): void {
    this.#checkpoints.push({ end, key, value });
  }

  /** A record of a source that cannot read it again (the agent's own log) starts at `offset`. */
  volatile(offset: number): void {
    this.#volatileFrom ??= offset;
  }

  /** Whether records from `start` on include one of a source that cannot read it again. */
  holdsVolatile(start: number): boolean {
    if (this.#volatileFrom !== undefined && this.#volatileFrom < start) this.#volatileFrom = undefined;
    return this.#volatileFrom !== undefined;
  }

  /** Notes the time of a commit; returns how long the record at `start` has waited (ms, at least). */
  tick(start: number, end: number, now: number): number {
    while (this.#ticks[0] !== undefined && this.#ticks[0].end <= start) this.#ticks.shift();
    const waited = now - (this.#ticks[0]?.at ?? now);
    if (end > (this.#ticks.at(-1)?.end ?? start)) this.#ticks.push({ end, at: now });
    return waited;
  }

  /** The checkpoints reached now that the stream is durable up to `start`, oldest first. */
  takeDurable(start: number): { key: string; value: CheckpointValue }[] {
    let n = 0;
    while (n < this.#checkpoints.length && (this.#checkpoints[n] as { end: number }).end <= start) n++;
    return this.#checkpoints.splice(0, n);
  }

  /**
   * Stream offsets `from + piece.from`.. went to disk as `pieces` describe. Pieces are kept while
   * their segment exists (from `oldestSegment` on): a destination that holds records for long
   * (S3's chunks) acknowledges positions read from memory long before; contiguous pieces merge.
   */
  placed(from: number, pieces: readonly Placed[], oldestSegment: number): void {
    for (const piece of pieces) {
      const last = this.#placed.at(-1);
      const start = from + piece.from;
      if (
        last?.to === start &&
        last.segment === piece.segment &&
        last.offset + last.to - last.from === piece.offset
      )
        this.#placed[this.#placed.length - 1] = { ...last, to: from + piece.to };
      else this.#placed.push({ ...piece, from: start, to: from + piece.to });
    }
    let gone = 0;
    while (gone < this.#placed.length && (this.#placed[gone] as Placed).segment < oldestSegment) gone++;
    if (gone > 0) this.#placed.splice(0, gone);
  }

  /** Where the record at stream offset `offset` went on disk; undefined if it is not there any more. */
  onDisk(offset: number): SpoolPosition | undefined {
    const placed = this.#placed;
    let lo = 0;
    let hi = placed.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const piece = placed[mid] as Placed;
      if (offset < piece.from) hi = mid - 1;
      else if (offset >= piece.to) lo = mid + 1;
      else return { segment: piece.segment, offset: piece.offset + offset - piece.from };
    }
    return undefined;
  }
}
