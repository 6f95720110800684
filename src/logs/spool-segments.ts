import { open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { cutTornTail } from './spool-segment-files.js';
import type { RecordMarks } from './spool-memory.js';
import { countRecords, EncodedRecordBatch } from './spool-records.js';
import type { SpoolPosition } from './spool-state-file.js';

/** Marks kept per segment at most (a quiet app adds one per group commit); past it, scanning. */
const MAX_MARKS = 8192;
const SEGMENT_RE = /^segment-(\d{12})\.ndjson$/;

export interface Segment {
  readonly id: number;
  /** Bytes written and fsync'd: readers never look past this. */
  bytes: number;
  sealed: boolean;
  /**
   * Record ends noted when they were written (this process, whole group commits only): offsets
   * ascending, and how many records come before each. A read from one of them ends at another
   * without scanning its bytes for newlines. Undefined: unknown (read by scanning).
   */
  marks?: { readonly offsets: number[]; readonly counts: number[] } | undefined;
}

/** `data[from, to)` of an append went to `segment` at `offset`. */
export interface Placed {
  readonly from: number;
  readonly to: number;
  readonly segment: number;
  readonly offset: number;
}

export interface SpoolBatch {
  readonly records: EncodedRecordBatch;
  /** Where the first record starts. */
  readonly from: SpoolPosition;
  readonly next: SpoolPosition;
  /** Bytes of spool the batch covers. */
  readonly bytes: number;
}

/**
 * The spool's segment files (`segment-<id>.ndjson`, oldest first): appended to and fsync'd, the
 * last one active, the others sealed; read from any position. LogSpool (log-spool.ts) keeps the
 * cursors, checkpoints and bounds over them.
 */
export class SpoolSegments {
  readonly #dir: string;
  readonly #segmentBytes: number;
  /** Oldest first. */
  readonly list: Segment[] = [];
  #nextId: number;
  #active: { segment: Segment; handle: FileHandle } | undefined;

  private constructor(dir: string, segmentBytes: number, nextId: number) {
    this.#dir = dir;
    this.#segmentBytes = segmentBytes;
    this.#nextId = nextId;
  }

  /** The segments in `dir` (sealed; a torn last line is cut). */
  static async open(dir: string, segmentBytes: number): Promise<SpoolSegments> {
    const ids = (await readdir(dir))
      .map((name) => SEGMENT_RE.exec(name)?.[1])
      .filter((id): id is string => id !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const segments = new SpoolSegments(dir, segmentBytes, (ids.at(-1) ?? 0) + 1);
    for (const id of ids) {
      let bytes = (await stat(segments.path(id))).size;
      // A crash between write and fsync can leave half a line at the end of the last segment;
      // cut it (its source checkpoint was not advanced, so the source sends it again).
      if (id === ids.at(-1)) bytes = await cutTornTail(segments.path(id), bytes);
      segments.list.push({ id, bytes, sealed: true });
    }
    return segments;
  }

  /** Where reading starts when there is no saved position: the oldest segment (or the next one). */
  get start(): SpoolPosition {
    return { segment: this.list[0]?.id ?? this.#nextId, offset: 0 };
  }

  /** Where the next byte written will be (the end of the last segment, or a new one). */
  get end(): SpoolPosition {
    const last = this.list.at(-1);
    return last === undefined
      ? { segment: this.#nextId, offset: 0 }
      : { segment: last.id, offset: last.bytes };
  }

  /** New segments get ids from `id` on (positions saved before a restart may name it). */
  reserveFrom(id: number): void {
    this.#nextId = Math.max(this.#nextId, id);
  }

  path(id: number): string {
    return join(this.#dir, `segment-${String(id).padStart(12, '0')}.ndjson`);
  }

  get diskBytes(): number {
    return this.list.reduce((sum, s) => sum + s.bytes, 0);
  }

  /** Bytes written after `position`. */
  lag(position: SpoolPosition): number {
    let lag = 0;
    for (const segment of this.list) {
      if (segment.id > position.segment) lag += segment.bytes;
      else if (segment.id === position.segment) lag += Math.max(0, segment.bytes - position.offset);
    }
    return lag;
  }

  /**
   * Writes whole records (`data` ends with a newline) and fsyncs them, filling the active
   * segment up to its size (at least one record) before starting the next: segments stay near
   * their size however large a write is, so the disk bound can drop one. `progress.done` is how
   * much of `data` is on disk, also when this throws; `placed` gets where each piece went.
   */
  async append(
    data: Buffer,
    progress: { done: number },
    marks?: RecordMarks,
    placed?: Placed[],
  ): Promise<void> {
    while (progress.done < data.length) {
      const done = progress.done;
      const active = await this.#activeSegment();
      const room = this.#segmentBytes - active.segment.bytes;
      let end = data.length;
      if (end - done > room) {
        const cut = room > 0 ? data.lastIndexOf(0x0a, done + room - 1) : -1;
        end = cut >= done ? cut + 1 : data.indexOf(0x0a, done) + 1;
      }
      const piece = data.subarray(done, end);
      let written = 0;
      while (written < piece.length) {
        const { bytesWritten } = await active.handle.write(
          piece,
          written,
          piece.length - written,
          active.segment.bytes + written,
        );
        written += bytesWritten;
      }
      await active.handle.datasync();
      const segmentMarks = active.segment.marks;
      if (segmentMarks !== undefined && marks !== undefined && done === 0 && end === data.length) {
        const base = active.segment.bytes;
        const before = segmentMarks.counts.at(-1) ?? 0;
        for (let k = 0; k < marks.offsets.length; k++) {
          segmentMarks.offsets.push(base + (marks.offsets[k] as number));
          segmentMarks.counts.push(before + (marks.counts[k] as number));
        }
        if (segmentMarks.offsets.length > MAX_MARKS) active.segment.marks = undefined;
      } else active.segment.marks = undefined;
      placed?.push({ from: done, to: end, segment: active.segment.id, offset: active.segment.bytes });
      active.segment.bytes += piece.length;
      progress.done = end;
      if (active.segment.bytes >= this.#segmentBytes || end < data.length) {
        active.segment.sealed = true;
        this.#active = undefined;
        await active.handle.close();
      }
    }
  }

  /**
   * The records from `position` on, up to about `maxBytes` and at most `maxRecords` (at least
   * one record), read into `into` when they fit; undefined when none was written there yet.
   */
  async read(
    position: SpoolPosition,
    maxBytes: number,
    maxRecords: number,
    into?: Buffer,
  ): Promise<SpoolBatch | undefined> {
    let at = position;
    for (;;) {
      const first = this.list[0];
      if (first === undefined) return undefined;
      if (at.segment < first.id) at = { segment: first.id, offset: 0 };
      const segment = this.list.find((s) => s.id === at.segment);
      if (!segment) {
        // Past the last segment: the next one is created by the next append.
        const later = this.list.find((s) => s.id > at.segment);
        if (!later) return undefined;
        at = { segment: later.id, offset: 0 };
        continue;
      }
      if (at.offset < segment.bytes) return this.#readSegment(segment, at.offset, maxBytes, maxRecords, into);
      if (!segment.sealed) return undefined;
      at = { segment: segment.id + 1, offset: 0 };
    }
  }

  /** Deletes the sealed segments before segment `id`. */
  async deleteBefore(id: number): Promise<void> {
    while (this.list[0] !== undefined && this.list[0].sealed && this.list[0].id < id) {
      const segment = this.list.shift();
      if (segment) await rm(this.path(segment.id), { force: true });
    }
  }

  /** Deletes the oldest segment (the disk bound). */
  async deleteOldest(): Promise<void> {
    const segment = this.list.shift();
    if (segment) await rm(this.path(segment.id), { force: true });
  }

  async close(): Promise<void> {
    await this.#active?.handle.close();
    this.#active = undefined;
  }

  async #activeSegment(): Promise<{ segment: Segment; handle: FileHandle }> {
    if (this.#active) return this.#active;
    const segment: Segment = {
      id: this.#nextId++,
      bytes: 0,
      sealed: false,
      marks: { offsets: [0], counts: [0] },
    };
    const handle = await open(this.path(segment.id), 'w', 0o600);
    this.list.push(segment);
    this.#active = { segment, handle };
    return this.#active;
  }

  async #readSegment(
    segment: Segment,
    offset: number,
    maxBytes: number,
    maxRecords: number,
    into: Buffer | undefined,
  ): Promise<SpoolBatch> {
    const marked = markedEnd(segment, offset, maxBytes, maxRecords);
    const handle = await open(this.path(segment.id), 'r');
    try {
      if (marked !== undefined) {
        const size = marked.end - offset;
        const buffer = into !== undefined && into.length >= size ? into : Buffer.allocUnsafe(size);
        const { bytesRead } = await handle.read(buffer, 0, size, offset);
        if (bytesRead === size) {
          return {
            records: new EncodedRecordBatch(buffer.subarray(0, size), marked.count),
            from: { segment: segment.id, offset },
            next: { segment: segment.id, offset: marked.end },
            bytes: size,
          };
        }
      }
      let size = Math.min(segment.bytes - offset, maxBytes);
      for (;;) {
        const buffer = into !== undefined && into.length >= size ? into : Buffer.allocUnsafe(size);
        const { bytesRead } = await handle.read(buffer, 0, size, offset);
        const { end, count } = lastRecordEnd(buffer, bytesRead, maxRecords);
        if (end < 0) {
          // One record longer than maxBytes: read it whole (records are bounded by the event size).
          size = Math.min(segment.bytes - offset, size * 2);
          continue;
        }
        // Records are JSON arrays, one per line (a newline in a message is escaped); they are
        // decoded only for a destination that asks for objects (see spool-records.ts).
        const lines = buffer.subarray(0, end + 1);
        return {
          records: new EncodedRecordBatch(lines, count ?? countRecords(lines)),
          from: { segment: segment.id, offset },
          next: { segment: segment.id, offset: offset + end + 1 },
          bytes: end + 1,
        };
      }
    } finally {
      await handle.close();
    }
  }
}

/**
 * The newline ending the last whole record in `buffer[0, length)`, at most `maxRecords` in (-1:
 * none), and how many records that is when they were counted on the way.
 */
export function lastRecordEnd(
  buffer: Buffer,
  length: number,
  maxRecords: number,
): { end: number; count: number | undefined } {
  if (!Number.isFinite(maxRecords)) return { end: buffer.lastIndexOf(0x0a, length - 1), count: undefined };
  // A loop over the bytes (short lines: one indexOf call per line costs more).
  let end = -1;
  let count = 0;
  for (let i = 0; i < length; i++) {
    if (buffer[i] !== 0x0a) continue;
    end = i;
    if (++count >= maxRecords) break;
  }
  return { end, count };
}

/**
 * From a marked offset, the furthest marked record end within `maxBytes` and `maxRecords`, and
 * how many records lie between; undefined when `offset` is not marked or no end fits.
 */
function markedEnd(
  segment: Segment,
  offset: number,
  maxBytes: number,
  maxRecords: number,
): { end: number; count: number } | undefined {
  const marks = segment.marks;
  if (marks === undefined) return undefined;
  const { offsets, counts } = marks;
  // Binary search for `offset` itself.
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((offsets[mid] as number) < offset) lo = mid + 1;
    else hi = mid;
  }
  if (offsets[lo] !== offset) return undefined;
  const from = counts[lo] as number;
  let best = -1;
  for (let j = lo + 1; j < offsets.length; j++) {
    const end = offsets[j] as number;
    if (end - offset > maxBytes || (counts[j] as number) - from > maxRecords || end > segment.bytes) break;
    best = j;
  }
  if (best < 0) return undefined;
  return { end: offsets[best] as number, count: (counts[best] as number) - from };
}
