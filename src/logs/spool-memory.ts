import { copyBytes, writePlainRecord } from './spool-records.js';

/**
 * Records are appended to chunks of this size (a larger record gets its own); a chunk whose
 * records every destination acknowledged is filled again (one spare is kept): a new chunk per
 * flush outlived the young generation and waited for a full GC as garbage.
 */
const CHUNK_BYTES = 2 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
/** Every this many records the end of one is noted: 10,000 (a CloudWatch request) is a multiple. */
export const MARK_RECORDS = 250;

/** Where records end in a run of records (offsets ascending) and how many come before each. */
export interface RecordMarks {
  readonly offsets: readonly number[];
  readonly counts: readonly number[];
}

interface Chunk {
  readonly buffer: Buffer;
  /** Stream offset of buffer[0]. */
  readonly start: number;
  used: number;
  /** Dropped while a reader might still hold a view of it: never filled again. */
  shared?: boolean;
}

/** Records read from memory: `lines` is a view of a chunk, or a copy when they span two. */
export interface MemoryRead {
  readonly lines: Buffer;
  readonly count: number;
  /** Stream offset after the last record. */
  readonly end: number;
}

/**
 * The spool's records in memory, as UTF-8 NDJSON (see spool-records.ts) in chunks of bytes, at
 * offsets of one stream that only grows (`start` to `end`): destinations read them from here
 * while they keep up (LogSpool), and what every destination acknowledged is dropped without
 * ever being written to disk. Not one string per record: at tens of thousands of lines a second
 * those outlived the young generation and filled the old one (the shipper's peak RSS).
 */
export class SpoolMemory {
  #chunks: Chunk[] = [];
  #start = 0;
  #end = 0;
  #spare: Buffer | undefined;
  /** Records appended in all, and where every MARK_RECORDS-th (and some read ends) ended. */
  #count = 0;
  #markOffsets: number[] = [0];
  #markCounts: number[] = [0];
  /** Marks before this index are below `start` (dropped); compacted now and then. */
  #markHead = 0;
  /**
   * `[timestamp,source,"` of the last plain record: most lines share their millisecond and
   * source with the one before, so their prefix is copied instead of its digits computed again.
   */
  #prefix = Buffer.allocUnsafe(64);
  #prefixLength = 0;
  #prefixTimestamp = -1;
  #prefixSource: Buffer | undefined;

  /** Stream offset of the oldest record held. */
  get start(): number {
    return this.#start;
  }

  /** Stream offset after the newest record. */
  get end(): number {
    return this.#end;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#end - this.#start;
  }

  /** Appends one NDJSON line (a record encoded as a string); returns its size in bytes. */
  appendLine(line: string): number {
    // A UTF-16 code unit is at most 3 UTF-8 bytes: measure only when the line might not fit.
    const last = this.#chunks.at(-1);
    const chunk =
      last !== undefined && line.length * 3 <= last.buffer.length - last.used
        ? last
        : this.#room(Buffer.byteLength(line, 'utf8'));
    const written = chunk.buffer.write(line, chunk.used, 'utf8');
    chunk.used += written;
    this.#appended(written);
    return written;
  }

  /** Appends a plain record (see writePlainRecord) copied from `message[start, end)`; returns its size. */
  appendPlain(
    timestamp: number,
    sourceJson: Buffer,
    message: Buffer,
    start = 0,
    end = message.length,
  ): number {
    if (timestamp !== this.#prefixTimestamp || sourceJson !== this.#prefixSource)
      this.#setPrefix(timestamp, sourceJson);
    const size = this.#prefixLength + (end - start) + 3;
    const chunk = this.#room(size);
    const target = chunk.buffer;
    let o = copyBytes(this.#prefix, 0, this.#prefixLength, target, chunk.used);
    o = copyBytes(message, start, end, target, o);
    target[o++] = 0x22; // "
    target[o++] = 0x5d; // ]
    target[o++] = 0x0a;
    chunk.used = o;
    this.#appended(size);
    return size;
  }

  /**
   * The records from stream offset `from` (a record start), up to `maxBytes` and `maxRecords`
   * (at least one record); undefined when none is held there. A view of a chunk when they lie
   * in one, else copied into `into` (when it is large enough) or a new buffer.
   */
  read(from: number, maxBytes: number, maxRecords: number, into?: Buffer): MemoryRead | undefined {
    if (from >= this.#end || from < this.#start) return undefined;
    let end: number;
    let count: number;
    const marked = this.#markedEnd(from, maxBytes, maxRecords);
    if (marked !== undefined) {
      ({ end, count } = marked);
    } else {
      // Not at a noted record end, or no noted end within the limits: count the newlines.
      end = from;
      count = 0;
      while (end < this.#end && count < maxRecords && (end - from < maxBytes || count === 0)) {
        const next = this.#indexOfNewline(end) + 1;
        if (count > 0 && next - from > maxBytes) break;
        end = next;
        count++;
      }
    }
    // The next read starts here: note it, so that it need not count.
    if (end === this.#end) this.#noteEnd();
    return { lines: this.#bytesOf(from, end, into), count, end };
  }

  /**
   * Records `from`..`to` as one buffer (a copy), with their marks relative to `from` (undefined
   * when `from` is not noted): what LogSpool writes to disk when it must.
   */
  copy(from: number, to: number): { data: Buffer; marks: RecordMarks | undefined } {
    const data = this.#bytesOf(from, to, undefined, true);
    if (to === this.#end) this.#noteEnd();
    const first = this.#markIndex(from);
    if (first < 0) return { data, marks: undefined };
    const offsets: number[] = [];
    const counts: number[] = [];
    const before = this.#markCounts[first] as number;
    for (let i = first + 1; i < this.#markOffsets.length; i++) {
      const offset = this.#markOffsets[i] as number;
      if (offset > to) break;
      offsets.push(offset - from);
      counts.push((this.#markCounts[i] as number) - before);
    }
    if (offsets.at(-1) !== to - from) return { data, marks: undefined };
    return { data, marks: { offsets, counts } };
  }

  /**
   * Forgets the records before stream offset `offset` (a record start). `reuse`: no reader holds
   * a view of them any more (every destination acknowledged them), so their chunks may be filled
   * again; else they are left to the garbage collector.
   */
  dropBefore(offset: number, reuse: boolean): void {
    if (offset <= this.#start) return;
    this.#start = Math.min(offset, this.#end);
    for (const chunk of this.#chunks) {
      if (chunk.start >= this.#start) break;
      if (!reuse) chunk.shared = true;
    }
    while (this.#chunks.length > 1) {
      const first = this.#chunks[0] as Chunk;
      if (first.start + first.used > this.#start) break;
      this.#chunks.shift();
      this.#recycle(first);
    }
    while (
      this.#markHead < this.#markOffsets.length - 1 &&
      (this.#markOffsets[this.#markHead] as number) < this.#start
    )
      this.#markHead++;
    if (this.#markHead > 4096) {
      this.#markOffsets = this.#markOffsets.slice(this.#markHead);
      this.#markCounts = this.#markCounts.slice(this.#markHead);
      this.#markHead = 0;
    }
  }

  #noteEnd(): void {
    if (this.#markOffsets.at(-1) === this.#end) return;
    this.#markOffsets.push(this.#end);
    this.#markCounts.push(this.#count);
  }

  #appended(size: number): void {
    this.#end += size;
    if (++this.#count % MARK_RECORDS === 0) {
      this.#markOffsets.push(this.#end);
      this.#markCounts.push(this.#count);
    }
  }

  /** The prefix is writePlainRecord's record of an empty message without its `"]\n`. */
  #setPrefix(timestamp: number, sourceJson: Buffer): void {
    if (this.#prefix.length < sourceJson.length + 32)
      this.#prefix = Buffer.allocUnsafe(sourceJson.length + 32);
    this.#prefixLength = writePlainRecord(this.#prefix, 0, timestamp, sourceJson, EMPTY) - 3;
    this.#prefixTimestamp = timestamp;
    this.#prefixSource = sourceJson;
  }

  /** The chunk to append `size` bytes to: the last one, or a new one. */
  #room(size: number): Chunk {
    const last = this.#chunks.at(-1);
    if (last !== undefined && size <= last.buffer.length - last.used) return last;
    // A full last chunk whose records are all dropped is replaced, not kept beside the new one.
    if (last !== undefined && last.start + last.used <= this.#start && this.#chunks.length === 1) {
      this.#chunks.pop();
      this.#recycle(last);
    }
    const spare = size <= CHUNK_BYTES ? this.#spare : undefined;
    this.#spare = undefined;
    const chunk: Chunk = {
      buffer: spare ?? Buffer.allocUnsafe(Math.max(CHUNK_BYTES, size)),
      start: this.#end,
      used: 0,
    };
    this.#chunks.push(chunk);
    return chunk;
  }

  #recycle(chunk: Chunk): void {
    if (chunk.shared !== true && chunk.buffer.length === CHUNK_BYTES) this.#spare = chunk.buffer;
  }

  /** Index of the mark at `offset`, or -1. */
  #markIndex(offset: number): number {
    const offsets = this.#markOffsets;
    let lo = this.#markHead;
    let hi = offsets.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((offsets[mid] as number) < offset) lo = mid + 1;
      else hi = mid;
    }
    return offsets[lo] === offset ? lo : -1;
  }

  /** From a marked offset, the furthest mark within the limits and the records between. */
  #markedEnd(from: number, maxBytes: number, maxRecords: number): { end: number; count: number } | undefined {
    const i = this.#markIndex(from);
    if (i < 0) return undefined;
    const offsets = this.#markOffsets;
    const counts = this.#markCounts;
    const before = counts[i] as number;
    let best = -1;
    for (let j = i + 1; j < offsets.length; j++) {
      if ((offsets[j] as number) - from > maxBytes || (counts[j] as number) - before > maxRecords) break;
      best = j;
    }
    if (best < 0) return undefined;
    return { end: offsets[best] as number, count: (counts[best] as number) - before };
  }

  #chunkAt(offset: number): Chunk {
    for (const chunk of this.#chunks) if (offset < chunk.start + chunk.used) return chunk;
    throw new Error(`no spool memory at ${String(offset)}`);
  }

  /** Stream offset of the first newline at or after `offset` (records end with one). */
  #indexOfNewline(offset: number): number {
    for (let at = offset; ;) {
      const chunk = this.#chunkAt(at);
      const i = chunk.buffer.indexOf(0x0a, at - chunk.start);
      if (i >= 0 && i < chunk.used) return chunk.start + i;
      at = chunk.start + chunk.used;
    }
  }

  #bytesOf(from: number, to: number, into: Buffer | undefined, copy = false): Buffer {
    const first = this.#chunkAt(from);
    if (!copy && to <= first.start + first.used)
      return first.buffer.subarray(from - first.start, to - first.start);
    const size = to - from;
    const target =
      into !== undefined && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
    let o = 0;
    let at = from;
    while (o < size) {
      const chunk = this.#chunkAt(at);
      const piece = Math.min(size - o, chunk.start + chunk.used - at);
      o = copyBytes(chunk.buffer, at - chunk.start, at - chunk.start + piece, target, o);
      at += piece;
    }
    return target;
  }
}
