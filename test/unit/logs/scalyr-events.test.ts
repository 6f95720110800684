import { describe, expect, it } from 'vitest';
import type { LogRecord } from '../../../src/logs/log-record.js';
import { EncodedRecordBatch, encodeRecord, recordBatch } from '../../../src/logs/spool-records.js';
import {
  addEventsRequests,
  SessionTimestamps,
  type AddEventsOptions,
} from '../../../src/logs/scalyr-events.js';

const ROUTES = {
  application: { logfile: '/var/log/application.log', parser: 'slf4j', sampling: [] },
  '/h/syslog': { logfile: '/var/log/syslog', parser: 'systemLog', sampling: [] },
};

function options(overrides: Partial<AddEventsOptions> = {}): AddEventsOptions {
  return {
    session: 'session-1',
    sessionInfo: { serverHost: 'hello', application_id: 'hello' },
    routes: ROUTES,
    maxRequestBytes: 1_000_000,
    maxMessageBytes: 49_900,
    random: () => 0.5,
    ...overrides,
  };
}

interface Body {
  session: string;
  sessionInfo: Record<string, string>;
  logs: { id: string; attrs: Record<string, string> }[];
  events: { ts: string; sev: number; log: string; attrs: Record<string, string> }[];
}

function parse(body: Buffer | undefined): Body {
  return JSON.parse(`{"token":"t"${body?.toString('utf8') ?? ''}`) as Body;
}

/** The records as the spool hands them to a destination: spool lines. */
function spoolBatch(records: readonly LogRecord[]): EncodedRecordBatch {
  const lines = records.map((r) => encodeRecord(r, JSON.stringify(r.source))).join('');
  return new EncodedRecordBatch(Buffer.from(lines), records.length);
}

const record = (source: string, timestamp: number, message: string): LogRecord => ({
  source,
  timestamp,
  message,
});

describe('addEventsRequests: the addEvents bodies', () => {
  it('gives each event nanoseconds as a string, strictly increasing even within one millisecond and out of order', () => {
    const { requests } = addEventsRequests(
      recordBatch([
        record('application', 1_700_000_000_123, 'a'),
        record('application', 1_700_000_000_123, 'b'),
        record('/h/syslog', 1_700_000_000_100, 'c'),
      ]),
      new SessionTimestamps(),
      options(),
    );
    const events = parse(requests[0]?.body).events;
    expect(events.map((e) => e.ts)).toEqual([
      '1700000000123000000',
      '1700000000123000001',
      '1700000000123000002',
    ]);
  });

  it('names each log with logfile and parser (in logs and on each event) and sends sessionInfo', () => {
    const { requests } = addEventsRequests(
      recordBatch([
        record('application', 1, 'app line'),
        record('/h/syslog', 2, 'sys line'),
        record('/other', 3, 'not routed'),
      ]),
      new SessionTimestamps(),
      options(),
    );
    const body = parse(requests[0]?.body);
    expect(body.session).toBe('session-1');
    expect(body.sessionInfo).toEqual({ serverHost: 'hello', application_id: 'hello' });
    expect(body.logs).toEqual([
      { id: '1', attrs: { logfile: '/var/log/application.log', parser: 'slf4j' } },
      { id: '2', attrs: { logfile: '/var/log/syslog', parser: 'systemLog' } },
    ]);
    expect(body.events.map((e) => [e.log, e.attrs])).toEqual([
      ['1', { message: 'app line', logfile: '/var/log/application.log', parser: 'slf4j' }],
      ['2', { message: 'sys line', logfile: '/var/log/syslog', parser: 'systemLog' }],
    ]);
    expect(requests[0]?.body.toString()).not.toContain('"token"');
  });

  it('cuts requests below maxRequestBytes and counts records per request', () => {
    const records = Array.from({ length: 100 }, (_, i) =>
      record('application', i, `line ${String(i)} ${'x'.repeat(1000)}`),
    );
    const { requests } = addEventsRequests(
      recordBatch(records),
      new SessionTimestamps(),
      options({ maxRequestBytes: 20_000 }),
    );
    expect(requests.length).toBeGreaterThan(5);
    for (const request of requests) expect(request.body.length + 600).toBeLessThanOrEqual(20_000);
    expect(requests.reduce((sum, r) => sum + r.records, 0)).toBe(100);
    const messages = requests.flatMap((r) => parse(r.body).events.map((e) => e.attrs.message));
    expect(messages).toEqual(records.map((r) => r.message));
  });

  it('sends a line longer than maxMessageBytes as several events, never cut off', () => {
    const long = 'é'.repeat(60_000);
    const { requests } = addEventsRequests(
      recordBatch([record('application', 5, long)]),
      new SessionTimestamps(),
      options(),
    );
    const events = parse(requests[0]?.body).events;
    expect(events.length).toBe(3);
    for (const event of events)
      expect(Buffer.byteLength(event.attrs.message ?? '')).toBeLessThanOrEqual(49_900);
    expect(events.map((e) => e.attrs.message).join('')).toBe(long);
    expect(requests[0]?.records).toBe(1);
  });

  it('makes one log per file for a source that tails a pattern, logfile = the file’s path', () => {
    const routes = { customlog: { logfile: '/var/log-custom/*.log', parser: 'json', sampling: [] } };
    const records: LogRecord[] = [
      { source: 'customlog', timestamp: 1, message: 'a1', file: '/var/log-custom/a.log' },
      { source: 'customlog', timestamp: 2, message: 'b1', file: '/var/log-custom/b.log' },
      { source: 'customlog', timestamp: 3, message: 'a2', file: '/var/log-custom/a.log' },
    ];
    const { requests } = addEventsRequests(
      recordBatch(records),
      new SessionTimestamps(),
      options({ routes }),
    );
    const body = parse(requests[0]?.body);
    const logfileOf = (id: string): string | undefined => body.logs.find((l) => l.id === id)?.attrs.logfile;
    expect(body.logs.map((l) => l.attrs)).toEqual([
      { logfile: '/var/log-custom/a.log', parser: 'json' },
      { logfile: '/var/log-custom/b.log', parser: 'json' },
    ]);
    expect(body.events.map((e) => [logfileOf(e.log), e.attrs.logfile, e.attrs.message])).toEqual([
      ['/var/log-custom/a.log', '/var/log-custom/a.log', 'a1'],
      ['/var/log-custom/b.log', '/var/log-custom/b.log', 'b1'],
      ['/var/log-custom/a.log', '/var/log-custom/a.log', 'a2'],
    ]);
  });

  it('applies sampling rules: the first matching rule keeps a line with its rate', () => {
    const routes = {
      application: {
        ...ROUTES.application,
        sampling: [
          { matchExpression: '^DEBUG', samplingRate: 0 },
          { matchExpression: 'INFO', samplingRate: 1 },
        ],
      },
    };
    const { requests, sampledOut } = addEventsRequests(
      recordBatch([
        record('application', 1, 'DEBUG noisy'),
        record('application', 2, 'INFO kept'),
        record('application', 3, 'other'),
      ]),
      new SessionTimestamps(),
      options({ routes }),
    );
    expect(sampledOut).toBe(1);
    expect(parse(requests[0]?.body).events.map((e) => e.attrs.message)).toEqual(['INFO kept', 'other']);
  });

  it('makes the same bytes from spool lines as from records: escapes, non-ASCII, long lines, other sources', () => {
    const records: LogRecord[] = [
      record('application', 1_700_000_000_001, 'plain line'),
      record('application', 1_700_000_000_001, 'say "hi" \\ tab\there \u2028 \u0001'),
      record('/other', 1_700_000_000_002, 'not routed'),
      record('application', 1_700_000_000_000, 'grüße 日本 🎉'),
      record('/h/syslog', 1_700_000_000_003, 'sys line'),
      record('application', 1_700_000_000_004, 'é'.repeat(30_000)),
      record('application', 1_700_000_000_005, ''),
      ...Array.from({ length: 40 }, (_, i) =>
        record('application', 1_700_000_000_010 + i, `n ${'x'.repeat(900)}`),
      ),
    ];
    const settings = options({ maxRequestBytes: 30_000 });
    const fromRecords = addEventsRequests(recordBatch(records), new SessionTimestamps(), settings);
    const fromSpool = addEventsRequests(spoolBatch(records), new SessionTimestamps(), settings);
    expect(fromSpool.requests.length).toBeGreaterThan(1);
    expect(fromSpool.requests.map((r) => [r.body.toString(), r.events, r.records])).toEqual(
      fromRecords.requests.map((r) => [r.body.toString(), r.events, r.records]),
    );
    const messages = fromSpool.requests.flatMap((r) => parse(r.body).events.map((e) => e.attrs.message));
    // The 60,000-byte line is two events, the others one each.
    expect(messages.length).toBe(records.length);
    expect(messages.join('')).toBe(
      records
        .filter((r) => r.source !== '/other')
        .map((r) => r.message)
        .join(''),
    );
  });

  it('reads spool lines with a file (custom logs) and sampled sources the same way', () => {
    const routes = {
      customlog: { logfile: '/var/log-custom/*.log', parser: 'json', sampling: [] },
      application: { ...ROUTES.application, sampling: [{ matchExpression: '^DEBUG', samplingRate: 0 }] },
    };
    const records: LogRecord[] = [
      { source: 'customlog', timestamp: 1, message: 'a1', file: '/var/log-custom/a.log' },
      record('application', 2, 'DEBUG dropped'),
      record('application', 3, 'INFO kept'),
      { source: 'customlog', timestamp: 4, message: 'b "1"', file: '/var/log-custom/b.log' },
      { source: 'customlog', timestamp: 5, message: 'a2', file: '/var/log-custom/a.log' },
      { source: 'customlog', timestamp: 6, message: 'ü'.repeat(30_000), file: '/var/log-custom/b.log' },
      { source: 'customlog', timestamp: 7, message: 'b3', file: '/var/log-custom/b.log' },
    ];
    const settings = options({ routes });
    const fromRecords = addEventsRequests(recordBatch(records), new SessionTimestamps(), settings);
    const fromSpool = addEventsRequests(spoolBatch(records), new SessionTimestamps(), settings);
    expect(fromSpool.sampledOut).toBe(1);
    expect(parse(fromSpool.requests[0]?.body).logs.map((l) => l.attrs.logfile)).toEqual([
      '/var/log-custom/a.log',
      '/var/log/application.log',
      '/var/log-custom/b.log',
    ]);
    expect(fromSpool.requests.map((r) => r.body.toString())).toEqual(
      fromRecords.requests.map((r) => r.body.toString()),
    );
  });
});

describe('SessionTimestamps', () => {
  it('is the millisecond in nanoseconds, else the last + 1 ns, carrying into the next millisecond', () => {
    const stamps = new SessionTimestamps();
    expect(stamps.next(0)).toBe('1');
    expect(stamps.next(0)).toBe('2');
    expect(stamps.next(5)).toBe('5000000');
    for (let i = 1; i < 999_999; i++) stamps.next(5);
    expect(stamps.next(5)).toBe('5999999');
    expect(stamps.next(4)).toBe('6000000');
    expect(stamps.next(6)).toBe('6000001');
    expect(stamps.next(1_700_000_000_123)).toBe('1700000000123000000');
  });
});
