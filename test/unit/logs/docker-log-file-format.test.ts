import { describe, expect, it } from 'vitest';
import { DockerLogEntries, nanosToSince, sinceToNanos } from '../../../src/logs/docker-log-file-format.js';

/** A protobuf varint. */
function varint(value: bigint): Buffer {
  const bytes: number[] = [];
  let rest = value;
  do {
    let byte = Number(rest & 0x7fn);
    rest >>= 7n;
    if (rest > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0n);
  return Buffer.from(bytes);
}

/** One `local` driver frame, as moby writes it: length, LogEntry, length. */
function localFrame(entry: {
  source: string;
  nanos: bigint;
  line: string;
  partial?: boolean;
  last?: boolean;
}): Buffer {
  const fields = [
    Buffer.from([0x0a, entry.source.length]),
    Buffer.from(entry.source),
    Buffer.from([0x10]),
    varint(entry.nanos),
  ];
  if (entry.line !== '')
    fields.push(Buffer.from([0x1a]), varint(BigInt(entry.line.length)), Buffer.from(entry.line));
  if (entry.partial) fields.push(Buffer.from([0x20, 0x01]));
  if (entry.partial) {
    const meta = Buffer.concat([
      ...(entry.last ? [Buffer.from([0x08, 0x01])] : []),
      Buffer.from([0x12, 0x02]),
      Buffer.from('id'),
      Buffer.from([0x18, 0x01]),
    ]);
    fields.push(Buffer.from([0x2a, meta.length]), meta);
  }
  const body = Buffer.concat(fields);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(body.length);
  return Buffer.concat([size, body, size]);
}

function all(
  entries: DockerLogEntries,
): Array<{ line: string; stderr: boolean; partial: boolean; nanos: bigint; millis: number }> {
  const out = [];
  while (entries.next())
    out.push({
      line: entries.line.toString(),
      stderr: entries.stderr,
      partial: entries.partial,
      nanos: entries.timeNanos(),
      millis: entries.millis(),
    });
  return out;
}

const T = 1_796_614_911_947_123_456n; // 2026-12-07T…, beyond 2^53

describe('DockerLogEntries, local driver frames', () => {
  it('reads lines, streams and exact nanosecond timestamps; an incomplete frame stays unread', () => {
    const frames = Buffer.concat([
      localFrame({ source: 'stdout', nanos: T, line: 'line 0' }),
      localFrame({ source: 'stderr', nanos: T + 1n, line: 'err' }),
      localFrame({ source: 'stdout', nanos: T + 2n, line: '' }),
    ]);
    const cut = frames.length - 3;
    const entries = new DockerLogEntries('local');
    entries.reset(frames, 0, cut);
    expect(all(entries)).toEqual([
      { line: 'line 0', stderr: false, partial: false, nanos: T, millis: 1_796_614_911_947 },
      { line: 'err', stderr: true, partial: false, nanos: T + 1n, millis: 1_796_614_911_947 },
    ]);
    const rest = entries.offset;
    entries.reset(frames, rest, frames.length);
    expect(all(entries).map((e) => [e.line, e.nanos])).toEqual([['', T + 2n]]);
    expect(entries.offset).toBe(frames.length);
  });

  it('a long line: pieces are partial, the one marked last in its metadata ends it', () => {
    const frames = Buffer.concat([
      localFrame({ source: 'stdout', nanos: T, line: 'aaa', partial: true }),
      localFrame({ source: 'stdout', nanos: T + 1n, line: 'bbb', partial: true, last: true }),
    ]);
    const entries = new DockerLogEntries('local');
    entries.reset(frames, 0, frames.length);
    expect(all(entries).map((e) => [e.line, e.partial])).toEqual([
      ['aaa', true],
      ['bbb', false],
    ]);
  });

  it('refuses bytes that are not frames', () => {
    const entries = new DockerLogEntries('local');
    const bad = Buffer.from('{"log":"x\\n"}\n{"log":"y\\n"}\n');
    entries.reset(bad, 0, bad.length);
    expect(() => entries.next()).toThrow(/not a local log driver frame/);
  });
});

describe('DockerLogEntries, json-file lines', () => {
  it('takes plain lines as bytes, parses escaped ones, keeps partial pieces and the time to the nanosecond', () => {
    const text = [
      '{"log":"line 0\\n","stream":"stdout","time":"2026-12-07T03:22:19.497123456Z"}',
      '{"log":"say \\"hi\\" \\u003cb\\u003e\\n","stream":"stderr","time":"2026-12-07T03:22:19.5Z"}',
      '{"log":"piece","stream":"stdout","time":"2026-12-07T03:22:20Z"}',
      '{"log":"rest\\n","stream":"stdout","time":"2026-12-07T03:22:20.000000001Z"}',
      '',
    ].join('\n');
    const buffer = Buffer.from(text);
    const entries = new DockerLogEntries('json-file');
    entries.reset(buffer, 0, buffer.length);
    const seconds = BigInt(Date.parse('2026-12-07T03:22:19Z') / 1000);
    expect(all(entries)).toEqual([
      {
        line: 'line 0',
        stderr: false,
        partial: false,
        nanos: seconds * 1_000_000_000n + 497_123_456n,
        millis: Number(seconds) * 1000 + 497,
      },
      {
        line: 'say "hi" <b>',
        stderr: true,
        partial: false,
        nanos: seconds * 1_000_000_000n + 500_000_000n,
        millis: Number(seconds) * 1000 + 500,
      },
      {
        line: 'piece',
        stderr: false,
        partial: true,
        nanos: (seconds + 1n) * 1_000_000_000n,
        millis: Number(seconds + 1n) * 1000,
      },
      {
        line: 'rest',
        stderr: false,
        partial: false,
        nanos: (seconds + 1n) * 1_000_000_000n + 1n,
        millis: Number(seconds + 1n) * 1000,
      },
    ]);
  });
});

describe('since ↔ nanoseconds', () => {
  it('round-trips exactly beyond 2^53', () => {
    expect(nanosToSince(T)).toBe('1796614911.947123456');
    expect(sinceToNanos('1796614911.947123456')).toBe(T);
    expect(sinceToNanos('1796614911.5')).toBe(1_796_614_911_500_000_000n);
  });
});
