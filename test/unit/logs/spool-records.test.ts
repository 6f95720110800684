import { describe, expect, it } from 'vitest';
import {
  cloudWatchBatches,
  encodedPutLogEvents,
  onePutLogEvents,
  putLogEventsHead,
  type PutLogEventsLimits,
} from '../../../src/logs/cloudwatch-batches.js';
import type { LogRecord } from '../../../src/logs/log-record.js';
import {
  countRecords,
  decodeRecords,
  encodeRecord,
  indexRecords,
  isPlainMessage,
  messageBytes,
  plainRecordBytes,
  writePlainRecord,
} from '../../../src/logs/spool-records.js';
import { SpoolMemory } from '../../../src/logs/spool-memory.js';

const T = Date.parse('2026-11-22T04:00:00Z');
const encode = (records: readonly LogRecord[]): Buffer =>
  Buffer.from(records.map((r) => encodeRecord(r, JSON.stringify(r.source))).join(''), 'utf8');

/** Messages that exercise every escape JSON.stringify makes, and multi-byte UTF-8. */
const MESSAGES = [
  'plain line',
  'with "quotes" and \\ backslash',
  'tab\tand\u0001control',
  'grüße 日本 🎉',
  '',
  'x'.repeat(300),
  '\u2028 line separator and \u007f delete',
];

describe('spool records', () => {
  it('writes a plain message byte for byte as JSON.stringify would', () => {
    for (const text of ['plain', 'grüße 日本 🎉', '', 'a/b <c> {d}']) {
      const message = Buffer.from(text, 'utf8');
      expect(isPlainMessage(message)).toBe(true);
      for (const timestamp of [0, 7, T, Number.MAX_SAFE_INTEGER]) {
        const source = Buffer.from(JSON.stringify('/var/log/ü.log'));
        const size = plainRecordBytes(timestamp, source, message);
        const target = Buffer.alloc(size + 4, 0xff);
        expect(writePlainRecord(target, 2, timestamp, source, message)).toBe(size);
        expect(target.toString('utf8', 2, 2 + size)).toBe(
          encodeRecord({ timestamp, source: '/var/log/ü.log', message: text }, source.toString()),
        );
        expect(target[1]).toBe(0xff);
        expect(target[2 + size]).toBe(0xff);
      }
    }
  });

  it('appends plain records as writePlainRecord writes them, whether their timestamp and source repeat or not', () => {
    const pending = new SpoolMemory();
    const sources = [Buffer.from('"application"'), Buffer.from(JSON.stringify('/var/log/ü.log'))];
    const expected: string[] = [];
    const rows: [number, number, string][] = [
      [T, 0, 'first'],
      [T, 0, 'same millisecond'],
      [T, 1, 'other source'],
      [T + 1, 1, ''],
      [7, 1, 'grüße'],
      [T + 1, 0, 'x'.repeat(100)],
      [T + 1, 0, 'y'],
    ];
    for (const [timestamp, s, text] of rows) {
      const source = sources[s] as Buffer;
      const message = Buffer.from(text, 'utf8');
      expect(pending.appendPlain(timestamp, source, message)).toBe(
        plainRecordBytes(timestamp, source, message),
      );
      expected.push(
        encodeRecord(
          { timestamp, source: JSON.parse(source.toString()) as string, message: text },
          source.toString(),
        ),
      );
    }
    expect(pending.copy(0, pending.end).data.toString('utf8')).toBe(expected.join(''));
  });

  it('takes the string path for what JSON escapes, invalid UTF-8 and (when asked) JWTs', () => {
    for (const text of ['say "hi"', 'a\\b', 'tab\there', 'nul\u0000'])
      expect(isPlainMessage(Buffer.from(text))).toBe(false);
    expect(isPlainMessage(Buffer.from([0x61, 0xff, 0x62]))).toBe(false);
    expect(isPlainMessage(Buffer.from([0xed, 0xa0, 0x80]))).toBe(false); // a UTF-8-encoded surrogate
    expect(isPlainMessage(Buffer.from('token eyJhbGciOi.eyJzdWIi.sig'), true)).toBe(false);
    expect(isPlainMessage(Buffer.from('token eyJhbGciOi.eyJzdWIi.sig'), false)).toBe(true);
    // A range of a buffer is judged by its own bytes only.
    const around = Buffer.from('"ab\xffJwt"', 'latin1');
    expect(isPlainMessage(around, true, 1, 3)).toBe(true);
    expect(isPlainMessage(around, true, 1, 4)).toBe(false);
    expect(isPlainMessage(Buffer.from('eyJ'), true, 2, 3)).toBe(true);
    expect(isPlainMessage(Buffer.from('x grüße"'), false, 2, 9)).toBe(true);
    expect(isPlainMessage(Buffer.from('ey J and eyj'), true)).toBe(true);
  });

  it('decodes and indexes what it encoded', () => {
    const records = MESSAGES.map((message, i) => ({
      timestamp: T + i,
      source: i % 2 ? 'application' : '/var/log/"x"',
      message,
    }));
    const lines = encode(records);
    expect(countRecords(lines)).toBe(records.length);
    expect(decodeRecords(lines)).toEqual(records);
    const index = indexRecords(lines, records.length);
    expect(index).toBeDefined();
    if (!index) return;
    records.forEach((record, n) => {
      expect(index.timestamps[n]).toBe(record.timestamp);
      expect(JSON.parse(lines.toString('utf8', index.sourceStart[n], index.sourceEnd[n]))).toBe(
        record.source,
      );
      expect(JSON.parse(lines.toString('utf8', index.messageStart[n], index.messageEnd[n]))).toBe(
        record.message,
      );
      expect(messageBytes(lines, index, n)).toBe(Buffer.byteLength(record.message, 'utf8'));
    });
  });

  it('keeps the file of a record from a pattern source, and indexes it for the byte paths', () => {
    const records: LogRecord[] = [
      { timestamp: T, source: 'customlog', message: 'a', file: '/var/log-custom/a.log' },
      { timestamp: T + 1, source: 'application', message: 'b' },
    ];
    const lines = encode(records);
    expect(lines.toString('utf8').split('\n')[0]).toBe(`[${T},"customlog","a","/var/log-custom/a.log"]`);
    expect(decodeRecords(lines)).toEqual(records);
    const index = indexRecords(lines, 2);
    expect(index).toBeDefined();
    if (!index) return;
    expect(JSON.parse(lines.toString('utf8', index.messageStart[0], index.messageEnd[0]))).toBe('a');
    expect(JSON.parse(lines.toString('utf8', index.fileStart[0], index.fileEnd[0]))).toBe(
      '/var/log-custom/a.log',
    );
    expect(index.fileStart[1]).toBe(-1);
    expect(JSON.parse(lines.toString('utf8', index.messageStart[1], index.messageEnd[1]))).toBe('b');
    expect(index.timestamps[1]).toBe(T + 1);
  });

  it('does not index lines that are not in the encoding', () => {
    expect(indexRecords(Buffer.from('{"timestamp":1,"message":"x"}\n'), 1)).toBeUndefined();
    expect(indexRecords(Buffer.from('[1.5,"a","x"]\n'), 1)).toBeUndefined();
    expect(indexRecords(Buffer.from('[1,"a","x"\n'), 1)).toBeUndefined();
    expect(indexRecords(Buffer.from('[1,"a","x","f"\n'), 1)).toBeUndefined();
    expect(indexRecords(Buffer.from('[1,"a","x",2]\n'), 1)).toBeUndefined();
  });
});

describe('encodedPutLogEvents', () => {
  const routes: Record<string, number> = { application: 0, '/var/log/syslog': 1 };
  const streams = [
    { head: putLogEventsHead('group-a', 'i-1') },
    { head: putLogEventsHead('group "b"', 'i-1') },
  ];

  /** What the record path sends: cloudWatchBatches per stream, each body one JSON.stringify. */
  function expected(records: readonly LogRecord[], limits?: PutLogEventsLimits): object[] {
    const bodies: object[] = [];
    for (const [source, stream] of Object.entries(routes)) {
      const events = records
        .filter((r) => r.source === source && r.message !== '')
        .map((r) => ({ timestamp: r.timestamp, message: r.message }));
      const group = stream === 0 ? 'group-a' : 'group "b"';
      for (const batch of cloudWatchBatches(events, limits))
        bodies.push({ logGroupName: group, logStreamName: 'i-1', logEvents: batch });
    }
    return bodies;
  }

  function actual(
    records: readonly LogRecord[],
    limits?: PutLogEventsLimits,
  ): { bodies: object[]; rejected: number } | undefined {
    const lines = encode(records);
    const index = indexRecords(lines, records.length);
    if (!index) throw new Error('not indexed');
    const result = encodedPutLogEvents(
      lines,
      index,
      streams,
      (n) => routes[records[n]?.source ?? ''] ?? -1,
      limits,
    );
    if (!result) return undefined;
    return {
      bodies: result.requests.map((r) => JSON.parse(r.body.toString('utf8')) as object),
      rejected: result.rejected,
    };
  }

  it('makes the same requests as the record path, for two streams, escapes and an unrouted source', () => {
    const records: LogRecord[] = [];
    for (let i = 0; i < 60; i++) {
      const source = ['application', '/var/log/syslog', '/var/log/other'][i % 3] ?? '';
      records.push({ timestamp: T + i, source, message: `${MESSAGES[i % MESSAGES.length] ?? ''} ${i}` });
    }
    records.push({ timestamp: T + 99, source: 'application', message: '' });
    const result = actual(records);
    expect(result?.bodies).toEqual(expected(records));
    expect(result?.rejected).toBe(1);
  });

  it('cuts at the same count, byte and span limits, counting UTF-8 bytes of escaped messages', () => {
    const limits: PutLogEventsLimits = {
      maxBatchBytes: 200,
      eventOverheadBytes: 26,
      maxEvents: 4,
      maxSpanMs: 1000,
    };
    const records: LogRecord[] = [];
    for (let i = 0; i < 40; i++)
      records.push({
        timestamp: T + i * 150,
        source: 'application',
        message: i % 4 ? `"q" ü ${'y'.repeat(i * 3)}` : 'short',
      });
    const result = actual(records, limits);
    expect(result?.bodies).toEqual(expected(records, limits));
    expect(result?.bodies.length).toBeGreaterThan(10);
  });

  it('gives up (undefined) when a stream is out of order, for the record path to sort', () => {
    const records = [
      { timestamp: T + 5, source: 'application', message: 'later' },
      { timestamp: T + 1, source: 'application', message: 'earlier' },
    ];
    expect(actual(records)).toBeUndefined();
  });
});

describe('onePutLogEvents (one source, in order, one request: one pass)', () => {
  const stream = { head: putLogEventsHead('group "a"', 'i-1') };
  const streamOf = (sourceJson: string): typeof stream | undefined =>
    JSON.parse(sourceJson) === 'application' ? stream : undefined;
  const limits: PutLogEventsLimits = {
    maxBatchBytes: 2000,
    eventOverheadBytes: 26,
    maxEvents: 50,
    maxSpanMs: 1000,
  };
  const app = (messages: readonly string[], step = 1): LogRecord[] =>
    messages.map((message, i) => ({ timestamp: T + i * step, source: 'application', message }));

  it('makes the request JSON.stringify would, escapes and UTF-8 included, and leaves out empty messages', () => {
    const records = app([...MESSAGES, ...MESSAGES.map((m) => `${m} again`)]);
    const result = onePutLogEvents(encode(records), records.length, streamOf, limits);
    const events = records
      .filter((r) => r.message !== '')
      .map((r) => ({ timestamp: r.timestamp, message: r.message }));
    expect(result?.stream).toBe(stream);
    expect(result?.events).toBe(events.length);
    expect(result?.rejected).toBe(1);
    expect(JSON.parse(result?.body?.toString('utf8') ?? '')).toEqual({
      logGroupName: 'group "a"',
      logStreamName: 'i-1',
      logEvents: events,
    });
  });

  it('sends nothing when every message is empty', () => {
    const result = onePutLogEvents(encode(app(['', ''])), 2, streamOf, limits);
    expect(result).toEqual({ stream, events: 0, rejected: 2, body: undefined });
  });

  it('gives up (undefined) for anything that is not one request of one routed source in order', () => {
    const one = (records: readonly LogRecord[]): unknown =>
      onePutLogEvents(encode(records), records.length, streamOf, limits);
    expect(one(app(['a', 'b']))).toBeDefined();
    expect(one([...app(['a']), { timestamp: T + 1, source: 'other', message: 'b' }])).toBeUndefined();
    expect(one([{ timestamp: T, source: 'other', message: 'b' }])).toBeUndefined();
    expect(
      one([...app(['a']), { timestamp: T, source: 'application', message: 'b', file: '/f' }]),
    ).toBeUndefined();
    expect(one(app(['a', 'b'], -1))).toBeUndefined(); // out of order
    expect(one(app(['a', 'b'], 1001))).toBeUndefined(); // span
    expect(one(app(Array.from({ length: 51 }, () => 'x')))).toBeUndefined(); // count
    expect(one(app(['x'.repeat(1000), 'ü'.repeat(480)]))).toBeUndefined(); // UTF-8 bytes over 2000
    expect(one(app(['x'.repeat(1000), 'y'.repeat(948)]))).toBeDefined(); // exactly 2000
  });
});
