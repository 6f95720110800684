import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SpoolSegments } from '../../../src/logs/spool-segments.js';
import type { SpoolPosition } from '../../../src/logs/spool-state-file.js';

/** `count` spool lines numbered from `from`, about 50 bytes each. */
function records(from: number, count: number): Buffer {
  let text = '';
  for (let n = from; n < from + count; n++)
    text += `[1700000000000,"application","line ${String(n).padStart(20, '0')}"]\n`;
  return Buffer.from(text);
}

/** Reads everything from `position` on, in reads of at most `maxBytes` and `maxRecords`. */
async function readAll(
  segments: SpoolSegments,
  position: SpoolPosition,
  maxBytes: number,
  maxRecords = Number.POSITIVE_INFINITY,
): Promise<{ bytes: Buffer; records: number }> {
  const pieces: Buffer[] = [];
  let records = 0;
  let at = position;
  for (;;) {
    const batch = await segments.read(at, maxBytes, maxRecords);
    if (batch === undefined) break;
    pieces.push(Buffer.from(batch.records.encoded));
    records += batch.records.length;
    at = batch.next;
  }
  return { bytes: Buffer.concat(pieces), records };
}

describe('SpoolSegments reads', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'taupage-spool-segments-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a reader that keeps up gets exactly the bytes written, whether they come from memory or the file', async () => {
    const segments = await SpoolSegments.open(dir, 8 * 1024 * 1024);
    const written: Buffer[] = [];
    let at: SpoolPosition = segments.start;
    let total = 0;
    // 60 group commits of 1,000 records (≈ 3 MB): the older ones no longer fit in memory.
    for (let commit = 0; commit < 60; commit++) {
      const data = records(commit * 1000, 1000);
      await segments.append(data, { done: 0 });
      written.push(data);
      if (commit % 3 === 2) {
        const { bytes, records: count } = await readAll(segments, at, 64 * 1024, 777);
        total += count;
        at = { segment: at.segment, offset: at.offset + bytes.length };
      }
    }
    expect(total).toBe(60_000);
    const all = Buffer.concat(written);
    // From the start (the file: most of it is older than what memory keeps), in one piece each.
    expect((await readAll(segments, segments.start, 1024 * 1024, 10_000)).bytes.equals(all)).toBe(true);
    expect((await readFile(segments.path(segments.start.segment))).equals(all)).toBe(true);
    await segments.close();
  });

  it('reads what was just written without the segment file (the newest bytes are kept in memory)', async () => {
    const segments = await SpoolSegments.open(dir, 8 * 1024 * 1024);
    await segments.append(records(0, 100), { done: 0 });
    const start = segments.start;
    const recent = records(100, 100);
    await segments.append(recent, { done: 0 });
    await rm(segments.path(start.segment));
    const after = { segment: start.segment, offset: records(0, 100).length };
    const { bytes, records: count } = await readAll(segments, after, 1024 * 1024);
    expect(count).toBe(100);
    expect(bytes.equals(recent)).toBe(true);
    await segments.close();
  });

  it('a write bigger than what memory keeps, and a new segment, are read back whole', async () => {
    const segments = await SpoolSegments.open(dir, 4 * 1024 * 1024);
    const big = records(0, 60_000); // ≈ 3.4 MB in one group commit
    await segments.append(big, { done: 0 });
    const next = records(60_000, 40_000); // fills the first segment and starts a second
    await segments.append(next, { done: 0 });
    expect(segments.list.length).toBe(2);
    const { bytes, records: count } = await readAll(segments, segments.start, 1024 * 1024, 10_000);
    expect(count).toBe(100_000);
    expect(bytes.equals(Buffer.concat([big, next]))).toBe(true);
    await segments.close();
  });
});
