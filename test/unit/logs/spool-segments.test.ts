import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SpoolSegments } from '../../../src/logs/spool-segments.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const record = (n: number): string => `[${1000 + n},"application","line ${n}"]\n`;

async function twoSegments(): Promise<SpoolSegments> {
  const dir = await mkdtemp(join(tmpdir(), 'taupage-spool-segments-'));
  dirs.push(dir);
  const segments = await SpoolSegments.open(dir, 64);
  // Three records of about 36 bytes: two fill the first 64-byte segment, the third the next.
  await segments.append(Buffer.from(record(0) + record(1) + record(2)), { done: 0 });
  expect(segments.list.map((s) => s.id)).toEqual([1, 2]);
  return segments;
}

describe('spool segments', () => {
  it('reads a segment again through its kept handle, from any position', async () => {
    const segments = await twoSegments();
    const first = await segments.read({ segment: 1, offset: 0 }, 1024, 1);
    expect(first?.records.length).toBe(1);
    const second = first && (await segments.read(first.next, 1024, Number.POSITIVE_INFINITY));
    expect(second?.records.length).toBe(1);
    const third = second && (await segments.read(second.next, 1024, Number.POSITIVE_INFINITY));
    expect(third?.from).toEqual({ segment: 2, offset: 0 });
    await segments.close();
  });

  it('goes on with the next segment when the disk bound deletes the one a read waits for', async () => {
    const segments = await twoSegments();
    // The handle is kept from this read on.
    await segments.read({ segment: 1, offset: 0 }, 1024, 1);
    const reading = segments.read({ segment: 1, offset: 0 }, 1024, Number.POSITIVE_INFINITY);
    await segments.deleteOldest();
    const batch = await reading;
    // Either it read before the deletion or it went on with what is left; it never fails.
    expect([1, 2]).toContain(batch?.from.segment);
    const after = await segments.read({ segment: 1, offset: 0 }, 1024, Number.POSITIVE_INFINITY);
    expect(after?.from).toEqual({ segment: 2, offset: 0 });
    await segments.close();
  });
});
