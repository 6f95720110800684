import { isUtf8 } from 'node:buffer';
import type { LogRecord } from './log-record.js';

/**
 * The spool's record encoding, in one place: one JSON array per line,
 * `[timestamp,"source","message"]\n` (`[timestamp,"source","message","file"]\n` for a record with a
 * file: a source that tails a pattern), byte for byte what JSON.stringify makes of it (a newline
 * in a message is escaped, so every line is one record). Sources write it, destinations read it;
 * at tens of thousands of lines a second the copies between strings, objects and bytes were most
 * of the shipper's CPU, so the common cases work on the bytes directly.
 */

/** A delivery: records as destinations read them from the spool. */
export interface RecordBatch {
  /** How many records. */
  readonly length: number;
  /** The records, decoded on first use. */
  readonly records: readonly LogRecord[];
  /** The same records as spool lines (see above); undefined when they did not come from the spool. */
  readonly encoded: Buffer | undefined;
}

/** A batch of records that are already objects (tests, and callers outside the spool). */
export function recordBatch(records: readonly LogRecord[]): RecordBatch {
  return { length: records.length, records, encoded: undefined };
}

/** A batch over spool lines: `count` lines, decoded only if a destination asks for objects. */
export class EncodedRecordBatch implements RecordBatch {
  readonly length: number;
  readonly encoded: Buffer;
  #records: LogRecord[] | undefined;

  constructor(encoded: Buffer, count: number) {
    this.encoded = encoded;
    this.length = count;
  }

  get records(): readonly LogRecord[] {
    this.#records ??= decodeRecords(this.encoded);
    return this.#records;
  }
}

/** One record as a spool line (`sourceJson` is JSON.stringify(record.source), cached by the caller). */
/** A source's name as JSON (text and bytes), as records carry it; `replayable`: see LogSpool. */
export function sourceJson(source: string): { text: string; bytes: Buffer; replayable: boolean } {
  const text = JSON.stringify(source);
  return { text, bytes: Buffer.from(text, 'utf8'), replayable: false };
}

export function encodeRecord(record: LogRecord, sourceJson: string): string {
  const file = record.file === undefined ? '' : `,${JSON.stringify(record.file)}`;
  return `[${JSON.stringify(record.timestamp)},${sourceJson},${JSON.stringify(record.message)}${file}]\n`;
}

/**
 * Whole spool lines → records. The lines joined by commas are one JSON array, parsed in one call
 * instead of one per record.
 */
export function decodeRecords(lines: Buffer): LogRecord[] {
  let end = lines.length;
  if (lines[end - 1] === 0x0a) end--;
  if (end <= 0) return [];
  const text = lines.toString('utf8', 0, end);
  const rows = JSON.parse(`[${text.replaceAll('\n', ',')}]`) as [number, string, string, string?][];
  return rows.map(([timestamp, source, message, file]) =>
    file === undefined ? { timestamp, source, message } : { timestamp, source, message, file },
  );
}

/** Counts the records (lines) in `lines`. */
export function countRecords(lines: Buffer): number {
  // A loop over the bytes: one indexOf call per (short) line costs more.
  let count = 0;
  for (let i = 0; i < lines.length; i++) if (lines[i] === 0x0a) count++;
  return count;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * True when `line` is its own JSON string body: valid UTF-8 without a quote, a backslash or a
 * control character, which JSON.stringify would escape (and, with `noJwt`, without "eyJ", the
 * start of a JWT to mask). Such a line goes into the spool as it is (see writePlainRecord);
 * anything else takes the string path.
 */
export function isPlainMessage(line: Buffer, noJwt = false, start = 0, end = line.length): boolean {
  let ascii = true;
  for (let i = start; i < end; i++) {
    const byte = line[i] as number;
    if (byte < 0x20 || byte === QUOTE || byte === BACKSLASH) return false;
    if (byte >= 0x80) ascii = false;
    else if (noJwt && byte === 0x4a && i - 2 >= start && line[i - 1] === 0x79 && line[i - 2] === 0x65)
      return false; // eyJ
  }
  return ascii || isUtf8(start === 0 && end === line.length ? line : line.subarray(start, end));
}

/** Bytes of a plain record's spool line (see writePlainRecord). */
export function plainRecordBytes(timestamp: number, sourceJson: Buffer, message: Buffer): number {
  return decimalDigits(timestamp) + sourceJson.length + message.length + 7;
}

/** How many digits JSON.stringify writes for `value`; 0 unless it is a safe non-negative integer. */
function decimalDigits(value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) return 0;
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/**
 * Writes `[timestamp,source,"message"]\n` at `at` (the caller made room: plainRecordBytes) and
 * returns the bytes written. `message` must be plain (isPlainMessage): then this is exactly
 * encodeRecord's output.
 */
export function writePlainRecord(
  target: Buffer,
  at: number,
  timestamp: number,
  sourceJson: Buffer,
  message: Buffer,
): number {
  let o = at;
  target[o++] = 0x5b; // [
  const digits = decimalDigits(timestamp);
  if (digits === 0) throw new RangeError(`not a timestamp in milliseconds: ${timestamp}`);
  for (let i = digits - 1, rest = timestamp; i >= 0; i--, rest = Math.floor(rest / 10))
    target[o + i] = 0x30 + (rest % 10);
  o += digits;
  target[o++] = 0x2c; // ,
  o = copyBytes(sourceJson, 0, sourceJson.length, target, o);
  target[o++] = 0x2c;
  target[o++] = QUOTE;
  o = copyBytes(message, 0, message.length, target, o);
  target[o++] = QUOTE;
  target[o++] = 0x5d; // ]
  target[o++] = 0x0a;
  return o - at;
}

/**
 * Copies `source[start, end)` to `target` at `at`; returns the end. A loop for short ranges:
 * Buffer#copy's call costs more than it saves below a few dozen bytes.
 */
export function copyBytes(source: Buffer, start: number, end: number, target: Buffer, at: number): number {
  if (end - start > 48) return at + source.copy(target, at, start, end);
  let o = at;
  for (let i = start; i < end; i++) target[o++] = source[i] as number;
  return o;
}

/**
 * Where each part of each record is in `lines`, without decoding them: the timestamp (parsed),
 * the source's JSON string and the message's JSON string (both with their quotes), whether
 * the message has an escape, and the file's JSON string if the line has one. Returns undefined when a line is not in the encoding (the caller
 * decodes the records instead).
 */
export interface RecordIndex {
  readonly count: number;
  readonly timestamps: Float64Array;
  /** Start and end (exclusive) of the timestamp digits. */
  readonly timestampStart: Int32Array;
  readonly sourceStart: Int32Array;
  readonly sourceEnd: Int32Array;
  readonly messageStart: Int32Array;
  readonly messageEnd: Int32Array;
  /** 1 when the message's JSON has a backslash (its UTF-8 size differs from the JSON's). */
  readonly escaped: Uint8Array;
  /** The file's JSON string (a record from a pattern source); -1: the line has none. */
  readonly fileStart: Int32Array;
  readonly fileEnd: Int32Array;
}

export function indexRecords(lines: Buffer, count: number): RecordIndex | undefined {
  const index: RecordIndex = {
    count,
    timestamps: new Float64Array(count),
    timestampStart: new Int32Array(count),
    sourceStart: new Int32Array(count),
    sourceEnd: new Int32Array(count),
    messageStart: new Int32Array(count),
    messageEnd: new Int32Array(count),
    escaped: new Uint8Array(count),
    fileStart: new Int32Array(count).fill(-1),
    fileEnd: new Int32Array(count).fill(-1),
  };
  let at = 0;
  for (let n = 0; n < count; n++) {
    if (lines[at] !== 0x5b) return undefined;
    let i = at + 1;
    let timestamp = 0;
    for (let c = lines[i] as number; c >= 0x30 && c <= 0x39; c = lines[++i] as number)
      timestamp = timestamp * 10 + (c - 0x30);
    if (i === at + 1 || lines[i] !== 0x2c || lines[i + 1] !== QUOTE) return undefined;
    index.timestamps[n] = timestamp;
    index.timestampStart[n] = at + 1;
    index.sourceStart[n] = i + 1;
    i = skipJsonString(lines, i + 1);
    if (i < 0 || lines[i] !== 0x2c || lines[i + 1] !== QUOTE) return undefined;
    index.sourceEnd[n] = i;
    index.messageStart[n] = i + 1;
    let escaped = 0;
    for (i += 2; ; i++) {
      const c = lines[i];
      if (c === undefined || c === 0x0a) return undefined;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        escaped = 1;
        i++;
      }
    }
    index.messageEnd[n] = i + 1;
    index.escaped[n] = escaped;
    if (lines[i + 1] === 0x2c && lines[i + 2] === QUOTE) {
      const fileEnd = skipJsonString(lines, i + 2);
      if (fileEnd < 0) return undefined;
      index.fileStart[n] = i + 2;
      index.fileEnd[n] = fileEnd;
      i = fileEnd - 1;
    }
    if (lines[i + 1] !== 0x5d || lines[i + 2] !== 0x0a) return undefined;
    at = i + 3;
  }
  return index;
}

/** The end (exclusive) of the JSON string starting with the quote at `start`, or -1. */
function skipJsonString(lines: Buffer, start: number): number {
  for (let i = start + 1; i < lines.length; i++) {
    const c = lines[i];
    if (c === 0x0a) return -1;
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) i++;
  }
  return -1;
}

/** The UTF-8 size of record `n`'s message (what CloudWatch counts), from its JSON. */
export function messageBytes(lines: Buffer, index: RecordIndex, n: number): number {
  const start = index.messageStart[n] as number;
  const end = index.messageEnd[n] as number;
  if (index.escaped[n] === 0) return end - start - 2;
  return Buffer.byteLength(JSON.parse(lines.toString('utf8', start, end)) as string, 'utf8');
}

/** Whether `bytes[aStart, aEnd)` and `bytes[bStart, bEnd)` are equal (short ranges: a loop). */
export function sameBytes(
  bytes: Buffer,
  aStart: number,
  aEnd: number,
  bStart: number,
  bEnd: number,
): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let i = 0; i < aEnd - aStart; i++) if (bytes[aStart + i] !== bytes[bStart + i]) return false;
  return true;
}
