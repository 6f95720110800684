import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { LogRecord } from '../../../src/logs/log-record.js';
import {
  parseTimekey,
  S3LogChunks,
  s3LogObjectKey,
  type S3LogChunksOptions,
} from '../../../src/logs/s3-log-chunks.js';

const naming = { prefix: 'taupage', applicationId: 'hello', applicationVersion: '1.0.3', instanceId: 'i-01' };
const T0 = Date.parse('2026-03-04T05:06:00.000Z');
const at = (segment: number, offset = 0) => ({ segment, offset });

function chunks(options: Partial<S3LogChunksOptions> = {}, now = () => T0): S3LogChunks {
  return new S3LogChunks({
    naming,
    routes: { app: { label: 'application' }, custom: { label: 'customlog', exclude: /^DEBUG/ } },
    timekeyMs: 5 * 60_000,
    raw: true,
    chunkBytes: 1024 * 1024,
    maxHeldBytes: 4 * 1024 * 1024,
    now,
    ...options,
  });
}

const record = (message: string, timestamp = T0, source = 'app'): LogRecord => ({
  source,
  timestamp,
  message,
});
const text = (body: Buffer): string => gunzipSync(body).toString('utf8');

describe('parseTimekey (fluentd durations)', () => {
  it.each([
    ['5m', 300_000],
    ['300', 300_000],
    ['30s', 30_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    [' 2m ', 120_000],
  ])('%s → %d ms', (input, ms) => {
    expect(parseTimekey(input)).toBe(ms);
  });
  it.each(['', '0', '5x', '1.5m', '-1m'])('refuses %j', (input) => {
    expect(() => parseTimekey(input)).toThrow(/expected a duration such as 5m or 1h/);
  });
});

describe('s3LogObjectKey', () => {
  it('is <prefix>/<app>/<version>/<source>/YYYY/MM/DD/HH/<instance>-<seq>.gz in UTC', () => {
    expect(s3LogObjectKey(naming, 'application', T0, 17)).toBe(
      'taupage/hello/1.0.3/application/2026/03/04/05/i-01-17.gz',
    );
  });
});

describe('S3LogChunks', () => {
  it('groups records by source and s3_timekey window, due when the window ends', () => {
    const c = chunks();
    c.hold([record('a'), record('b', T0 + 60_000), record('x', T0, 'custom')], at(1));
    c.hold([record('c', T0 + 5 * 60_000)], at(2));
    // Window [05:05, 05:10) ends at 05:10; the next one at 05:15.
    const windowEnd = Date.parse('2026-03-04T05:10:00.000Z');
    expect(c.dueAt()).toBe(windowEnd);
    expect(c.sealDue(false, windowEnd - 1)).toEqual([]);
    const sealed = c.sealDue(false, windowEnd);
    expect(sealed.map((s) => [s.key, text(s.body), s.records])).toEqual([
      [
        expect.stringMatching(/^taupage\/hello\/1\.0\.3\/application\/2026\/03\/04\/05\/i-01-\d+\.gz$/),
        'a\nb\n',
        2,
      ],
      [expect.stringMatching(/\/customlog\/2026\/03\/04\/05\/i-01-\d+\.gz$/), 'x\n', 1],
    ]);
    expect(c.heldFrom()).toEqual(at(2));
    expect(c.dueAt()).toBe(windowEnd + 5 * 60_000);
  });

  it('leaves out records without a route and lines matching the route filter', () => {
    const c = chunks();
    c.hold(
      [record('DEBUG x', T0, 'custom'), record('kept', T0, 'custom'), record('other', T0, 'elsewhere')],
      at(1),
    );
    const sealed = c.sealDue(true, T0);
    expect(sealed.map((s) => text(s.body))).toEqual(['kept\n']);
  });

  it('names objects with a sequence that increases and starts from the clock (unique across restarts)', () => {
    let now = T0;
    const c = chunks({}, () => now);
    c.hold([record('a')], at(1));
    const [first] = c.sealDue(true, now);
    c.hold([record('b')], at(2));
    const [second] = c.sealDue(true, now);
    now = T0 - 10_000; // the clock stepped back
    c.hold([record('c')], at(3));
    const [third] = c.sealDue(true, now);
    const seq = (key = '') => Number(/-(\d+)\.gz$/.exec(key)?.[1]);
    expect(seq(first?.key)).toBe(T0);
    expect(seq(second?.key)).toBe(T0 + 1);
    expect(seq(third?.key)).toBe(T0 + 2);
  });

  it('makes a chunk due at once when it reaches the chunk size, and all when the memory bound is hit', () => {
    const c = chunks({ chunkBytes: 100, maxHeldBytes: 250 });
    c.hold([record('x'.repeat(120))], at(1));
    expect(c.dueAt()).toBe(0);
    expect(c.sealDue(false, T0).length).toBe(1);
    c.hold(
      [record('y'.repeat(90)), record('z'.repeat(90), T0, 'custom'), record('w'.repeat(90), T0 + 600_000)],
      at(2),
    );
    expect(c.heldBytes).toBe(273);
    expect(c.dueAt()).toBe(0);
    expect(c.sealDue(false, T0).length).toBe(3);
    expect(c.heldFrom()).toBeUndefined();
  });

  it('writes JSON records with s3_raw_log_format false, escaping quotes and backslashes', () => {
    const c = chunks({ raw: false });
    c.hold([record('say "hi" \\ ok')], at(1));
    const [sealed] = c.sealDue(true, T0);
    expect(JSON.parse(text(sealed?.body ?? Buffer.alloc(0)))).toEqual({
      time: '2026-03-04T05:06:00.000Z',
      source: 'application',
      message: 'say "hi" \\ ok',
    });
  });

  it('gzips large chunks in several members that gunzip reads as one file', () => {
    const c = chunks({ chunkBytes: 10 * 1024 * 1024 });
    const lines = Array.from({ length: 30_000 }, (_, i) => record(`line ${String(i)} ${'p'.repeat(20)}`));
    c.hold(lines, at(1));
    const [sealed] = c.sealDue(true, T0);
    const out = text(sealed?.body ?? Buffer.alloc(0))
      .split('\n')
      .slice(0, -1);
    expect(out.length).toBe(30_000);
    expect(out[29_999]).toBe(`line 29999 ${'p'.repeat(20)}`);
  });

  it('remembers the spool position of the oldest open chunk', () => {
    const c = chunks();
    expect(c.heldFrom()).toBeUndefined();
    c.hold([record('a', T0, 'custom')], at(3, 10));
    c.hold([record('b')], at(3, 50));
    c.hold([record('c')], at(4));
    expect(c.heldFrom()).toEqual(at(3, 10));
  });
});
