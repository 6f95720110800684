/**
 * The two file formats of Docker's log drivers that keep files, read in place (no object per
 * entry: `next()` moves over a buffer and leaves the entry in the reader's fields).
 *
 * - `local`: each entry is a protobuf `LogEntry` (1 source string, 2 time_nano int64, 3 line
 *   bytes, 4 partial bool, 5 partial metadata: 1 last, 2 id, 3 ordinal) framed by its big-endian uint32 length before and
 *   after. The line has no newline; Docker cuts lines at 16 KiB and marks the pieces partial.
 * - `json-file`: one JSON object a line, `{"log":"…\n","stream":"stdout","time":"<RFC3339Nano>"}`;
 *   a piece of a long line has no `\n` at the end of `log`.
 *
 * The timestamp is kept as two exact numbers (`timeHigh`, `timeLow`), compared for equality per
 * entry; `timeNanos()` makes the exact value only where needed (checkpoints, resume).
 */
export type DockerLogFormat = 'local' | 'json-file';

/** The largest frame the local driver writes (moby's 1 MiB message limit plus the protobuf fields). */
const MAX_LOCAL_FRAME = 2 * 1024 * 1024;
const TWO_28 = 268_435_456;
const STREAM_MARKER = Buffer.from('","stream":"');
const TIME_MARKER = Buffer.from('"time":"');
const LOG_PREFIX = Buffer.from('{"log":"');

export class DockerLogEntries {
  readonly format: DockerLogFormat;
  #buffer: Buffer = Buffer.alloc(0);
  #at = 0;
  #end = 0;
  /**
   * The entry's line, without a newline: `lineBuffer[lineStart, lineEnd)` (the read buffer, or
   * a buffer of its own for a json-file line with escapes). No view is made per entry.
   */
  lineBuffer: Buffer = Buffer.alloc(0);
  lineStart = 0;
  lineEnd = 0;
  stderr = false;
  partial = false;
  /** local: time_nano = high · 2^28 + low; json-file: seconds and nanoseconds. */
  timeHigh = 0;
  timeLow = 0;
  /** Bytes of the frame being looked at, when it is bigger than what the buffer holds. */
  needed = 0;
  #secondsText = '';
  #epochSeconds = 0;

  constructor(format: DockerLogFormat) {
    this.format = format;
  }

  /** Reads entries from `buffer[start, end)`. */
  reset(buffer: Buffer, start: number, end: number): void {
    this.#buffer = buffer;
    this.#at = start;
    this.#end = end;
    this.needed = 0;
  }

  /** The entry's line as a view (see lineBuffer). */
  get line(): Buffer {
    return this.lineBuffer.subarray(this.lineStart, this.lineEnd);
  }

  /** Where the next unread (possibly incomplete) entry starts. */
  get offset(): number {
    return this.#at;
  }

  /**
   * Moves to the next whole entry; false at the end of what the buffer holds (an incomplete
   * entry stays unread: `offset` points at it). Throws on bytes that are not the format.
   */
  next(): boolean {
    for (;;) {
      if (this.#at >= this.#end) return false;
      const ok = this.format === 'local' ? this.#nextLocal() : this.#nextJson();
      if (ok !== undefined) return ok;
      // undefined: an entry to skip (no line), go on.
    }
  }

  /** Milliseconds since the epoch (to the millisecond; float rounding is far below it). */
  millis(): number {
    if (this.format === 'local') return Math.floor((this.timeHigh * TWO_28 + this.timeLow) / 1e6);
    return this.timeHigh * 1000 + Math.floor(this.timeLow / 1e6);
  }

  /** The exact timestamp in nanoseconds since the epoch. */
  timeNanos(): bigint {
    return this.format === 'local'
      ? BigInt(this.timeHigh) * BigInt(TWO_28) + BigInt(this.timeLow)
      : BigInt(this.timeHigh) * 1_000_000_000n + BigInt(this.timeLow);
  }

  #nextLocal(): boolean | undefined {
    const buffer = this.#buffer;
    const available = this.#end - this.#at;
    if (available < 4) return false;
    const size = buffer.readUInt32BE(this.#at);
    if (size > MAX_LOCAL_FRAME) throw new Error(`not a local log driver frame (length ${size})`);
    if (available < size + 8) {
      this.needed = size + 8;
      return false;
    }
    const start = this.#at + 4;
    const end = start + size;
    if (buffer.readUInt32BE(end) !== size) throw new Error('local log driver frame: lengths differ');
    this.#at = end + 4;
    let lineStart = start;
    let lineEnd = start;
    this.stderr = false;
    this.partial = false;
    this.timeHigh = 0;
    this.timeLow = 0;
    // The last piece of a long line is partial too, with `last` set in its metadata (field 5's 1).
    let last = false;
    let p = start;
    while (p < end) {
      const key = buffer[p++] ?? 0;
      const field = key >> 3;
      const wire = key & 7;
      if (wire === 0) {
        // varint: the first four bytes (28 bits) into low, the rest into high.
        let low = 0;
        let high = 0;
        let scale = 1; // 2 ** (7 × the byte's index), restarting at 1 for the high part
        let shift = 0;
        let byte: number;
        do {
          byte = buffer[p++] ?? 0;
          if (shift === 28) scale = 1;
          if (shift < 28) low += (byte & 0x7f) * scale;
          else high += (byte & 0x7f) * scale;
          scale *= 128;
          shift += 7;
        } while (byte & 0x80 && p < end);
        if (field === 2) {
          this.timeLow = low;
          this.timeHigh = high;
        } else if (field === 4) this.partial = low !== 0;
      } else if (wire === 2) {
        let length = 0;
        let scale = 1;
        let byte: number;
        do {
          byte = buffer[p++] ?? 0;
          length += (byte & 0x7f) * scale;
          scale *= 128;
        } while (byte & 0x80 && p < end);
        if (field === 1)
          this.stderr = length === 6 && buffer[p + 3] === 0x65; // "stderr"
        else if (field === 5) last = length >= 2 && buffer[p] === 0x08 && buffer[p + 1] === 0x01;
        else if (field === 3) {
          lineStart = p;
          lineEnd = p + length;
        }
        p += length;
      } else if (wire === 1) p += 8;
      else if (wire === 5) p += 4;
      else throw new Error(`local log driver frame: wire type ${wire}`);
    }
    if (last) this.partial = false;
    this.lineBuffer = buffer;
    this.lineStart = lineStart;
    this.lineEnd = Math.min(lineEnd, end);
    return true;
  }

  #nextJson(): boolean | undefined {
    const buffer = this.#buffer;
    const newline = buffer.indexOf(0x0a, this.#at);
    if (newline < 0 || newline >= this.#end) {
      this.needed = this.#end - this.#at + 1;
      return false;
    }
    const start = this.#at;
    this.#at = newline + 1;
    if (newline === start) return undefined;
    const marker = buffer.indexOf(STREAM_MARKER, start);
    const time = buffer.indexOf(TIME_MARKER, start);
    const plain =
      buffer.compare(LOG_PREFIX, 0, LOG_PREFIX.length, start, start + LOG_PREFIX.length) === 0 &&
      marker > 0 &&
      marker < newline &&
      time > marker &&
      time < newline;
    let valueEnd = marker;
    if (plain) {
      this.stderr = buffer[marker + STREAM_MARKER.length + 3] === 0x65;
      this.partial = !(buffer[marker - 2] === 0x5c && buffer[marker - 1] === 0x6e);
      if (!this.partial) valueEnd -= 2;
      const valueStart = start + LOG_PREFIX.length;
      const escaped = buffer.indexOf(0x5c, valueStart);
      if (escaped < 0 || escaped >= valueEnd) {
        this.lineBuffer = buffer;
        this.lineStart = valueStart;
        this.lineEnd = valueEnd;
        const timeStart = time + TIME_MARKER.length;
        this.#setJsonTime(buffer.toString('latin1', timeStart, buffer.indexOf(0x22, timeStart)));
        return true;
      }
    }
    // Escapes (quotes, control characters, Go's \u003c…) or another field order: parse it.
    const entry = JSON.parse(buffer.toString('utf8', start, newline)) as {
      log?: string;
      stream?: string;
      time?: string;
    };
    const text = entry.log ?? '';
    this.partial = !text.endsWith('\n');
    this.lineBuffer = Buffer.from(this.partial ? text : text.slice(0, -1));
    this.lineStart = 0;
    this.lineEnd = this.lineBuffer.length;
    this.stderr = entry.stream === 'stderr';
    this.#setJsonTime(entry.time ?? '');
    return true;
  }

  /** "2026-12-07T03:22:19.4971Z" (RFC3339Nano, trailing zeros cut) → seconds and nanoseconds. */
  #setJsonTime(text: string): void {
    const secondsText = text.slice(0, 19);
    if (secondsText !== this.#secondsText) {
      const zone = /[Z+-][\d:]*$/.exec(text.slice(19))?.[0] ?? 'Z';
      const millis = Date.parse(`${secondsText}${zone}`);
      if (Number.isNaN(millis)) throw new Error(`json-file: bad time ${JSON.stringify(text)}`);
      this.#epochSeconds = millis / 1000;
      this.#secondsText = zone === 'Z' ? secondsText : '';
    }
    this.timeHigh = this.#epochSeconds;
    const fraction = text[19] === '.' ? (/^\d+/.exec(text.slice(20))?.[0] ?? '') : '';
    this.timeLow = fraction === '' ? 0 : Number(fraction.padEnd(9, '0').slice(0, 9));
  }
}

/** Nanoseconds → Docker's `since` form "seconds.nanoseconds". */
export function nanosToSince(nanos: bigint): string {
  return `${nanos / 1_000_000_000n}.${(nanos % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** Docker's `since` form → nanoseconds. */
export function sinceToNanos(since: string): bigint {
  const [seconds = '0', fraction = '0'] = since.split('.');
  return BigInt(seconds) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0').slice(0, 9));
}
