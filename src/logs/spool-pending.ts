import { copyBytes, writePlainRecord } from './spool-records.js';

/**
 * Pending records are gathered in buffers of this size (a larger record gets its own): twice
 * the spool's eager flush (1 MiB), so that a flush usually takes one chunk as it is (no concat),
 * and the chunk is used again once written (see recycle).
 */
const CHUNK_BYTES = 2 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
/** Every this many records the end of one is noted (RecordMarks): 10,000 (a request) is a multiple. */
export const MARK_RECORDS = 250;

/**
 * Where records end in what `take` returned, noted while they were appended: the end of every
 * MARK_RECORDS-th record (`ends[k]` ends record (k + 1) × MARK_RECORDS) and how many there are.
 */
export interface RecordMarks {
  readonly ends: readonly number[];
  readonly count: number;
}

/**
 * The records LogSpool has taken but not yet written, as UTF-8 NDJSON in chunks of bytes: full
 * chunks, then the one being filled. Not one string per record: at tens of thousands of lines a
 * second those outlived the young generation and filled the old one (the shipper's peak RSS).
 */
export class PendingRecords {
  #chunks: Buffer[] = [];
  #chunk: Buffer | undefined;
  #used = 0;
  /** Bytes held. */
  #bytes = 0;
  /** A chunk written and given back (recycle), to fill next instead of a new one. */
  #spare: Buffer | undefined;
  /**
   * `[timestamp,source,"` of the last plain record: most lines share their millisecond and
   * source with the one before, so their prefix is copied instead of its digits computed again.
   */
  #prefix = Buffer.allocUnsafe(64);
  #prefixLength = 0;
  #prefixTimestamp = -1;
  #prefixSource: Buffer | undefined;
  /** Records appended since the last take, and the end of every MARK_RECORDS-th one. */
  #count = 0;
  #ends: number[] = [];
  /** Records put back (a failed write) without marks: the next take has none. */
  #unmarked = false;

  /** The marks of what the last `take` returned. */
  marks: RecordMarks | undefined;

  get bytes(): number {
    return this.#bytes;
  }

  /** Appends one NDJSON line (a record encoded as a string); returns its size in bytes. */
  appendLine(line: string): number {
    // A UTF-16 code unit is at most 3 UTF-8 bytes: measure only when the line might not fit.
    const chunk =
      this.#chunk !== undefined && line.length * 3 <= this.#chunk.length - this.#used
        ? this.#chunk
        : this.#room(Buffer.byteLength(line, 'utf8'));
    const written = chunk.write(line, this.#used, 'utf8');
    this.#used += written;
    this.#bytes += written;
    this.#counted();
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
    let o = copyBytes(this.#prefix, 0, this.#prefixLength, chunk, this.#used);
    o = copyBytes(message, start, end, chunk, o);
    chunk[o++] = 0x22; // "
    chunk[o++] = 0x5d; // ]
    chunk[o++] = 0x0a;
    this.#used = o;
    this.#bytes += size;
    this.#counted();
    return size;
  }

  #counted(): void {
    if (++this.#count % MARK_RECORDS === 0) this.#ends.push(this.#bytes);
  }

  /** The prefix is writePlainRecord's record of an empty message without its `"]\n`. */
  #setPrefix(timestamp: number, sourceJson: Buffer): void {
    if (this.#prefix.length < sourceJson.length + 32)
      this.#prefix = Buffer.allocUnsafe(sourceJson.length + 32);
    this.#prefixLength = writePlainRecord(this.#prefix, 0, timestamp, sourceJson, EMPTY) - 3;
    this.#prefixTimestamp = timestamp;
    this.#prefixSource = sourceJson;
  }

  /**
   * Takes everything out as one buffer (empty when nothing is held), with where its records end
   * (undefined after a putBack: records of an earlier take are in front, not counted).
   */
  take(): Buffer {
    this.marks = this.#unmarked ? undefined : { ends: this.#ends, count: this.#count };
    this.#count = 0;
    this.#ends = [];
    this.#unmarked = false;
    if (this.#chunk !== undefined && this.#used > 0) this.#chunks.push(this.#chunk.subarray(0, this.#used));
    this.#chunk = undefined;
    this.#used = 0;
    const chunks = this.#chunks;
    this.#chunks = [];
    this.#bytes = 0;
    return chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks);
  }

  /**
   * `data` (from take) is written and no longer used: its chunk is filled again next. A new
   * chunk per flush was held across the write's fsync, outlived the young generation and
   * waited for a full GC as garbage.
   */
  recycle(data: Buffer): void {
    if (data.byteOffset === 0 && data.buffer.byteLength === CHUNK_BYTES)
      this.#spare = Buffer.from(data.buffer, 0, CHUNK_BYTES);
  }

  /** Puts records taken but not written back in front of what came since. */
  putBack(data: Buffer): void {
    if (data.length === 0) return;
    this.#chunks.unshift(data);
    this.#bytes += data.length;
    this.#unmarked = true;
  }

  /** The chunk to append `size` bytes to at #used: the current one, or a new one. */
  #room(size: number): Buffer {
    const chunk = this.#chunk;
    if (chunk !== undefined && size <= chunk.length - this.#used) return chunk;
    if (chunk !== undefined && this.#used > 0) this.#chunks.push(chunk.subarray(0, this.#used));
    const spare = size <= CHUNK_BYTES ? this.#spare : undefined;
    this.#spare = undefined;
    this.#chunk = spare ?? Buffer.allocUnsafe(Math.max(CHUNK_BYTES, size));
    this.#used = 0;
    return this.#chunk;
  }
}
