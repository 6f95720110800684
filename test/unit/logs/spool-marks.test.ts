import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogSpool } from '../../../src/logs/log-spool.js';
import { countRecords } from '../../../src/logs/spool-records.js';

// The spool notes where records end while it writes them (every 250th record and the end of
// each write to disk), so a read from such a place ends at another without scanning for newlines.
// Whether noted or scanned, a read gives whole records, counted right, within its limits.
describe('LogSpool record marks', () => {
  let dir: string;
  const signal = new AbortController().signal;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'taupage-spool-marks-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** 3,000 records in group commits of 333, 1,000 and 1,667, plain and escaped, short and long. */
  async function written(spool: LogSpool): Promise<string[]> {
    const messages: string[] = [];
    let n = 0;
    for (const group of [333, 1_000, 1_667]) {
      for (let i = 0; i < group; i++, n++) {
        const message = n % 7 === 0 ? `line "${String(n)}"\t${'x'.repeat(n % 90)}` : `line ${String(n)}`;
        messages.push(message);
        if (n % 7 === 0) spool.write({ timestamp: 1_700_000_000_000 + n, source: 'app', message }, undefined);
        else spool.writePlain(1_700_000_000_000 + n, 'app', Buffer.from(message), undefined);
      }
      await spool.flush();
    }
    return messages;
  }

  async function readAll(
    spool: LogSpool,
    maxBytes: number,
    maxRecords: number,
  ): Promise<{ messages: string[]; sizes: number[] }> {
    const messages: string[] = [];
    const sizes: number[] = [];
    let at: unknown;
    while (spool.hasUnread('a')) {
      const batch = await spool.read('a', maxBytes, signal, maxRecords);
      if (at !== undefined) expect(batch.from).toEqual(at);
      at = batch.next;
      expect(batch.records.length).toBe(countRecords(batch.records.encoded));
      expect(batch.records.length).toBeLessThanOrEqual(maxRecords);
      expect(batch.bytes).toBeLessThanOrEqual(maxBytes);
      messages.push(...batch.records.records.map((r) => r.message));
      sizes.push(batch.records.length);
    }
    return { messages, sizes };
  }

  it.each([
    ['records', 1_000_000, 900],
    ['bytes', 4_096, Number.POSITIVE_INFINITY],
    ['both', 20_000, 1_000],
  ])(
    'reads whole records within the limits (%s), marked while written and scanned after a restart',
    async (_what, maxBytes, maxRecords) => {
      const spool = await LogSpool.open({ dir, consumers: ['a'] });
      const messages = await written(spool);
      const marked = await readAll(spool, maxBytes, maxRecords);
      expect(marked.messages).toEqual(messages);
      await spool.close();
      // A restart knows no marks: the same records, found by scanning.
      const reopened = await LogSpool.open({ dir, consumers: ['b', 'a'] });
      const scanned = await readAll(reopened, maxBytes, maxRecords);
      expect(scanned.messages).toEqual(messages);
      await reopened.close();
    },
  );

  it('ends a read at a noted record end (every 250th record, or a group commit end) when it starts at one', async () => {
    const spool = await LogSpool.open({ dir, consumers: ['a'] });
    await written(spool);
    // Noted ends from the start: every 250th record written and each write's end: 250, 333 (a
    // write), 500, 750, 1000, 1250, 1333 (a write), ...: at most 900 records → 750.
    expect((await spool.read('a', 1_000_000, signal, 900)).records.length).toBe(750);
    await spool.close();
    const reopened = await LogSpool.open({ dir, consumers: ['b'] });
    expect((await reopened.read('b', 1_000_000, signal, 900)).records.length).toBe(900);
    await reopened.close();
  });
});
