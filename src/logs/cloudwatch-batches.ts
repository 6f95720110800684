import { copyBytes, messageBytes, type RecordIndex } from './spool-records.js';

/** One CloudWatch Logs event as PutLogEvents takes it. */
export interface CloudWatchEvent {
  readonly timestamp: number;
  readonly message: string;
}

/**
 * PutLogEvents limits (API reference): at most 1,048,576 bytes counted as the UTF-8 messages plus
 * 26 bytes per event, at most 10,000 events, in chronological order, spanning at most 24 hours.
 * We stay one millisecond inside the span so that "at most" versus "less than" never matters.
 */
export const PUT_LOG_EVENTS_LIMITS = {
  maxBatchBytes: 1_048_576,
  eventOverheadBytes: 26,
  maxEvents: 10_000,
  maxSpanMs: 24 * 60 * 60 * 1000 - 1,
} as const;

export type PutLogEventsLimits = { readonly [K in keyof typeof PUT_LOG_EVENTS_LIMITS]: number };

/**
 * Cuts one stream's events into valid PutLogEvents batches: sorted by timestamp (stable, so lines
 * with the same millisecond keep their order, which keeps a split long line in order), then cut
 * wherever the next event would break the byte, count or span limit. Every message must be
 * non-empty and fit in one event (see MAX_MESSAGE_BYTES).
 */
export function cloudWatchBatches(
  events: readonly CloudWatchEvent[],
  limits: PutLogEventsLimits = PUT_LOG_EVENTS_LIMITS,
): CloudWatchEvent[][] {
  // Usually already in order (one source, or sources in step): then no copy and no sort.
  let inOrder = true;
  for (let i = 1; i < events.length && inOrder; i++)
    inOrder = (events[i - 1]?.timestamp ?? 0) <= (events[i]?.timestamp ?? 0);
  const sorted = inOrder ? events : [...events].sort((a, b) => a.timestamp - b.timestamp);
  const batches: CloudWatchEvent[][] = [];
  let batch: CloudWatchEvent[] = [];
  let bytes = 0;
  let first = 0;
  for (const event of sorted) {
    const size = Buffer.byteLength(event.message, 'utf8') + limits.eventOverheadBytes;
    if (size > limits.maxBatchBytes)
      throw new RangeError(`log event of ${size} bytes exceeds the batch limit`);
    if (
      batch.length > 0 &&
      (batch.length >= limits.maxEvents ||
        bytes + size > limits.maxBatchBytes ||
        event.timestamp - first > limits.maxSpanMs)
    ) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    if (batch.length === 0) first = event.timestamp;
    batch.push(event);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** Where one route's events go, and the start of its request body (see putLogEventsHead). */
export interface EncodedStream {
  /** `{"logGroupName":…,"logStreamName":…,"logEvents":[` */
  readonly head: Buffer;
}

/** One PutLogEvents request body made from spool lines. */
export interface EncodedPutLogEvents {
  /** Index of the stream in the `streams` given to encodedPutLogEvents. */
  readonly stream: number;
  readonly events: number;
  readonly body: Buffer;
}

export function putLogEventsHead(logGroupName: string, logStreamName: string): Buffer {
  const head = JSON.stringify({ logGroupName, logStreamName, logEvents: [] });
  return Buffer.from(head.slice(0, -2), 'utf8');
}

const EVENT_OPEN = Buffer.from('{"timestamp":');
const EVENT_MESSAGE = Buffer.from(',"message":');

/**
 * The same requests as cloudWatchBatches + JSON.stringify, made from spool lines without
 * decoding them: each event's timestamp digits and message JSON are copied from the line.
 * `streamOf(n)` names record n's stream (an index into `streams`, or -1: not shipped here).
 * Records with an empty message are counted in `rejected` (CloudWatch has no empty events).
 * Returns undefined when a stream's records are not in chronological order: the caller then
 * sorts decoded records instead.
 */
export function encodedPutLogEvents(
  lines: Buffer,
  index: RecordIndex,
  streams: readonly EncodedStream[],
  streamOf: (n: number) => number,
  limits: PutLogEventsLimits = PUT_LOG_EVENTS_LIMITS,
): { requests: EncodedPutLogEvents[]; rejected: number } | undefined {
  // Per stream, its records' numbers (streamOf may add streams as it meets their sources).
  const members: number[][] = [];
  let rejected = 0;
  for (let n = 0; n < index.count; n++) {
    const stream = streamOf(n);
    if (stream < 0) continue;
    if ((index.messageEnd[n] as number) - (index.messageStart[n] as number) === 2) {
      rejected++;
      continue;
    }
    (members[stream] ??= []).push(n);
  }
  const requests: EncodedPutLogEvents[] = [];
  for (let stream = 0; stream < streams.length; stream++) {
    const records = members[stream] ?? [];
    for (let i = 1; i < records.length; i++)
      if (
        (index.timestamps[records[i - 1] as number] as number) >
        (index.timestamps[records[i] as number] as number)
      )
        return undefined;
    let from = 0;
    while (from < records.length) {
      const first = index.timestamps[records[from] as number] as number;
      let bytes = 0;
      let to = from;
      for (; to < records.length && to - from < limits.maxEvents; to++) {
        const n = records[to] as number;
        const size = messageBytes(lines, index, n) + limits.eventOverheadBytes;
        if (size > limits.maxBatchBytes)
          throw new RangeError(`log event of ${size} bytes exceeds the batch limit`);
        if (
          to > from &&
          (bytes + size > limits.maxBatchBytes || (index.timestamps[n] as number) - first > limits.maxSpanMs)
        )
          break;
        bytes += size;
      }
      requests.push({
        stream,
        events: to - from,
        body: putLogEventsBody(lines, index, (streams[stream] as EncodedStream).head, records, from, to),
      });
      from = to;
    }
  }
  return { requests, rejected };
}

function putLogEventsBody(
  lines: Buffer,
  index: RecordIndex,
  head: Buffer,
  records: readonly number[],
  from: number,
  to: number,
): Buffer {
  let size = head.length + 2;
  for (let i = from; i < to; i++) {
    const n = records[i] as number;
    const digits = (index.sourceStart[n] as number) - 1 - (index.timestampStart[n] as number);
    const message = (index.messageEnd[n] as number) - (index.messageStart[n] as number);
    size += EVENT_OPEN.length + digits + EVENT_MESSAGE.length + message + 2;
  }
  const body = Buffer.allocUnsafe(size - 1);
  let o = head.copy(body, 0);
  for (let i = from; i < to; i++) {
    const n = records[i] as number;
    if (i > from) body[o++] = 0x2c;
    o = copyBytes(EVENT_OPEN, 0, EVENT_OPEN.length, body, o);
    o = copyBytes(lines, index.timestampStart[n] as number, (index.sourceStart[n] as number) - 1, body, o);
    o = copyBytes(EVENT_MESSAGE, 0, EVENT_MESSAGE.length, body, o);
    o = copyBytes(lines, index.messageStart[n] as number, index.messageEnd[n] as number, body, o);
    body[o++] = 0x7d;
  }
  body[o++] = 0x5d;
  body[o++] = 0x7d;
  return body.subarray(0, o);
}

/** One request of one source's records, made in one pass (see onePutLogEvents). */
export interface OnePutLogEvents<S> {
  readonly stream: S;
  readonly events: number;
  /** Records with an empty message, left out (CloudWatch has no empty events). */
  readonly rejected: number;
  /** Undefined when every message was empty: nothing to send. */
  readonly body: Buffer | undefined;
}

/**
 * The usual delivery in one pass over the spool lines, without an index: every record is of the
 * same routed source and has no file, the records are in chronological order and they fit one
 * request. Each record's digits and message JSON are copied into the body as the line is
 * scanned. `streamOf` gives the stream of a source (its JSON, quotes included), undefined when
 * it is not shipped here. Returns undefined for anything else: the caller then takes
 * indexRecords and encodedPutLogEvents, which make the same request.
 */
export function onePutLogEvents<S extends EncodedStream>(
  lines: Buffer,
  count: number,
  streamOf: (sourceJson: string) => S | undefined,
  limits: PutLogEventsLimits = PUT_LOG_EVENTS_LIMITS,
): OnePutLogEvents<S> | undefined {
  // The first record's source: `[digits,"source",`.
  let i = 1;
  while ((lines[i] as number) >= 0x30 && (lines[i] as number) <= 0x39) i++;
  if (lines[0] !== 0x5b || i === 1 || lines[i] !== 0x2c || lines[i + 1] !== 0x22) return undefined;
  const sourceStart = i + 1;
  let sourceEnd = sourceStart + 1;
  for (; sourceEnd < lines.length; sourceEnd++) {
    const c = lines[sourceEnd];
    if (c === 0x0a) return undefined;
    if (c === 0x5c) sourceEnd++;
    else if (c === 0x22) break;
  }
  sourceEnd++;
  const sourceLength = sourceEnd - sourceStart;
  const stream = streamOf(lines.toString('utf8', sourceStart, sourceEnd));
  if (stream === undefined) return undefined;
  const head = stream.head;
  // Per event at most 26 bytes more than its spool line (which also has the source): enough.
  const body = Buffer.allocUnsafe(head.length + 2 + lines.length + count * 26);
  let o = head.copy(body, 0);
  let events = 0;
  let rejected = 0;
  let bytes = 0;
  let first = 0;
  let last = 0;
  let at = 0;
  for (let n = 0; n < count; n++) {
    const recordStart = at;
    if (lines[at] !== 0x5b) return undefined;
    i = at + 1;
    let timestamp = 0;
    for (let c = lines[i] as number; c >= 0x30 && c <= 0x39; c = lines[++i] as number)
      timestamp = timestamp * 10 + (c - 0x30);
    const digitsEnd = i;
    if (digitsEnd === recordStart + 1 || lines[i] !== 0x2c) return undefined;
    for (let k = 0; k < sourceLength; k++) if (lines[i + 1 + k] !== lines[sourceStart + k]) return undefined;
    i += 1 + sourceLength;
    if (lines[i] !== 0x2c || lines[i + 1] !== 0x22) return undefined;
    const messageStart = i + 1;
    let escaped = false;
    for (i += 2; ; i++) {
      const c = lines[i];
      if (c === undefined || c === 0x0a) return undefined;
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        i++;
      }
    }
    const messageEnd = i + 1;
    // `]\n`: a record with a file (a pattern source) goes the other way.
    if (lines[messageEnd] !== 0x5d || lines[messageEnd + 1] !== 0x0a) return undefined;
    at = messageEnd + 2;
    if (messageEnd - messageStart === 2) {
      rejected++;
      continue;
    }
    if (events === 0) first = timestamp;
    else if (timestamp < last || timestamp - first > limits.maxSpanMs) return undefined;
    last = timestamp;
    const size =
      (escaped
        ? Buffer.byteLength(JSON.parse(lines.toString('utf8', messageStart, messageEnd)) as string, 'utf8')
        : messageEnd - messageStart - 2) + limits.eventOverheadBytes;
    bytes += size;
    if (bytes > limits.maxBatchBytes || events >= limits.maxEvents) return undefined;
    if (events > 0) body[o++] = 0x2c;
    o = copyBytes(EVENT_OPEN, 0, EVENT_OPEN.length, body, o);
    o = copyBytes(lines, recordStart + 1, digitsEnd, body, o);
    o = copyBytes(EVENT_MESSAGE, 0, EVENT_MESSAGE.length, body, o);
    o = copyBytes(lines, messageStart, messageEnd, body, o);
    body[o++] = 0x7d; // }
    events++;
  }
  if (at !== lines.length) return undefined;
  body[o++] = 0x5d; // ]
  body[o++] = 0x7d;
  return { stream, events, rejected, body: events === 0 ? undefined : body.subarray(0, o) };
}
