import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogSpool, type LogSpoolOptions } from '../../../src/logs/log-spool.js';
import { eventually } from '../../support/test-env.js';

// The spool holds records in memory, where the destinations read them; only what a destination
// does not acknowledge in time goes to disk. The sources' checkpoints move past a record only
// once every destination acknowledged it or it is on disk: a crash makes the source read again
// what was only in memory (duplicates), never skip it.
describe('LogSpool as an overflow', () => {
  let dir: string;
  const signal = new AbortController().signal;
  const spools: LogSpool[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'taupage-spool-overflow-'));
  });
  afterEach(async () => {
    for (const spool of spools.splice(0)) await spool.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  async function open(options: Partial<LogSpoolOptions> & { consumers: string[] }): Promise<LogSpool> {
    const spool = await LogSpool.open({ dir, ...options });
    spools.push(spool);
    return spool;
  }

  /** `count` records of the replayable source `app`, each with its checkpoint (n + 1). */
  function writeLines(spool: LogSpool, from: number, count: number): void {
    spool.replayable('app');
    for (let n = from; n < from + count; n++)
      spool.writePlain(1_700_000_000_000 + n, 'app', Buffer.from(`line ${String(n)}`), {
        key: 'file:app',
        value: { n: n + 1 },
      });
  }

  async function savedState(): Promise<{
    sources: Record<string, unknown>;
    consumers: Record<string, unknown>;
  }> {
    try {
      return JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as {
        sources: Record<string, unknown>;
        consumers: Record<string, unknown>;
      };
    } catch {
      return { sources: {}, consumers: {} };
    }
  }

  async function readAll(spool: LogSpool, consumer: string, maxRecords = Number.POSITIVE_INFINITY) {
    const batch = await spool.read(consumer, 1024 * 1024, signal, maxRecords);
    return { batch, messages: batch.records.records.map((r) => r.message) };
  }

  it('never writes what every destination acknowledged, and only then saves the checkpoint past it', async () => {
    const spool = await open({ consumers: ['a', 'b'], flushIntervalMs: 10, holdMs: 60_000 });
    writeLines(spool, 0, 1_000);
    const a = await readAll(spool, 'a');
    expect(a.messages).toHaveLength(1_000);
    await spool.ack('a', a.batch.next);
    // b has not acknowledged: a commit saves a's cursor, but not the checkpoint.
    const committed = await eventually(
      async () => ((await savedState()).consumers.a !== undefined ? savedState() : undefined),
      'a commit',
    );
    expect(committed.sources['file:app']).toBeUndefined();
    const b = await readAll(spool, 'b');
    await spool.ack('b', b.batch.next);
    await eventually(
      async () => ((await savedState()).sources['file:app'] !== undefined ? true : undefined),
      'the checkpoint saved',
    );
    expect((await savedState()).sources['file:app']).toEqual({ n: 1_000 });
    expect(spool.stats().diskBytes).toBe(0);
    await spool.close();
    const reopened = await open({ consumers: ['a', 'b'] });
    expect(reopened.checkpoint('file:app')).toEqual({ n: 1_000 });
    expect(reopened.hasUnread('a') || reopened.hasUnread('b')).toBe(false);
  });

  it('a destination that does not acknowledge in time reads on from disk; the other goes on from memory', async () => {
    const spool = await open({ consumers: ['fast', 'slow'], flushIntervalMs: 10, holdMs: 50 });
    writeLines(spool, 0, 100);
    const fast = await readAll(spool, 'fast');
    await spool.ack('fast', fast.batch.next);
    const slow = await readAll(spool, 'slow', 10);
    expect(slow.messages[0]).toBe('line 0');
    await eventually(
      () => Promise.resolve(spool.stats().diskBytes > 0 ? true : undefined),
      'records on disk',
    );
    // On disk and so durable: the checkpoint moved past all of them.
    await eventually(
      async () => ((await savedState()).sources['file:app'] !== undefined ? true : undefined),
      'the checkpoint saved',
    );
    expect((await savedState()).sources['file:app']).toEqual({ n: 100 });
    writeLines(spool, 100, 50);
    const fastAgain = await readAll(spool, 'fast');
    expect(fastAgain.messages[0]).toBe('line 100');
    expect(fastAgain.batch.from.segment).toBe(Number.MAX_SAFE_INTEGER);
    // The slow one's delivery in flight is acknowledged late: its cursor moves to the disk.
    await spool.ack('slow', slow.batch.next);
    const rest = await readAll(spool, 'slow');
    expect(rest.batch.from.segment).toBeLessThan(Number.MAX_SAFE_INTEGER);
    const messages = [...slow.messages, ...rest.messages];
    while (spool.hasUnread('slow')) messages.push(...(await readAll(spool, 'slow')).messages);
    expect(messages).toEqual(Array.from({ length: 150 }, (_, n) => `line ${String(n)}`));
  });

  it('takes an acknowledgement of records read from memory long ago, after many writes to disk (S3 holds its chunks)', async () => {
    const spool = await open({ consumers: ['s3', 'fast'], flushIntervalMs: 60_000, holdMs: 60_000 });
    writeLines(spool, 0, 10);
    const held = await readAll(spool, 's3');
    let next = 10;
    for (let write = 0; write < 100; write++, next += 10) {
      writeLines(spool, next, 10);
      while (spool.hasUnread('fast')) await spool.ack('fast', (await readAll(spool, 'fast')).batch.next);
      await spool.flush();
    }
    await spool.ack('s3', held.batch.next);
    // The acknowledgement moved its saved cursor: after a restart it reads on from line 10.
    await spool.close();
    spools.splice(spools.indexOf(spool), 1);
    const reopened = await open({ consumers: ['s3', 'fast'] });
    expect((await readAll(reopened, 's3')).messages[0]).toBe('line 10');
  });

  it('a crash loses no record held in memory: the source reads again from its saved checkpoint', async () => {
    const spool = await open({ consumers: ['a'], flushIntervalMs: 10, holdMs: 60_000 });
    writeLines(spool, 0, 10);
    const first = await readAll(spool, 'a');
    await spool.ack('a', first.batch.next);
    await eventually(
      async () => ((await savedState()).sources['file:app'] !== undefined ? true : undefined),
      'the checkpoint saved',
    );
    writeLines(spool, 10, 10);
    const second = await readAll(spool, 'a');
    expect(second.messages).toHaveLength(10);
    // Not acknowledged, not on disk: a crash now (no flush, no close) must leave the checkpoint
    // at 10, so that the source reads lines 10..19 again.
    const state = await savedState();
    expect(state.sources['file:app']).toEqual({ n: 10 });
    spools.splice(spools.indexOf(spool), 1);
    const reopened = await open({ consumers: ['a'] });
    expect(reopened.checkpoint('file:app')).toEqual({ n: 10 });
    expect(reopened.hasUnread('a')).toBe(false);
  });

  it('writes the records of a source that cannot read them again within flushIntervalMs, others only after holdMs', async () => {
    const spool = await open({ consumers: ['a'], flushIntervalMs: 10, holdMs: 60_000 });
    writeLines(spool, 0, 10);
    await spool.ack('a', (await spool.read('a', 1024, signal, 5)).next);
    // A commit (it saves a's cursor in memory) leaves the other 5 records in memory.
    await eventually(
      async () => ((await savedState()).consumers.a !== undefined ? true : undefined),
      'a commit',
    );
    expect(spool.stats().diskBytes).toBe(0);
    expect(spool.stats().pendingBytes).toBeGreaterThan(0);
    spool.write({ timestamp: 1_700_000_000_000, source: 'agent', message: 'own log line' }, undefined);
    await eventually(
      () => Promise.resolve(spool.stats().diskBytes > 0 ? true : undefined),
      'records on disk',
    );
    expect(spool.stats().pendingBytes).toBe(0);
  });

  it('leaves a batch handed out intact while its records are written to disk and memory fills again', async () => {
    const spool = await open({ consumers: ['a', 'b'], flushIntervalMs: 60_000, holdMs: 60_000 });
    writeLines(spool, 0, 20_000);
    const held = await readAll(spool, 'a');
    const copy = Buffer.from(held.batch.records.encoded);
    await spool.flush();
    expect(spool.stats().pendingBytes).toBe(0);
    // Two chunks (2 MiB each) and more of new records, read and acknowledged by both.
    for (let round = 0; round < 5; round++) {
      writeLines(spool, 20_000 + round * 30_000, 30_000);
      for (const consumer of ['a', 'b'])
        while (spool.hasUnread(consumer))
          await spool.ack(consumer, (await readAll(spool, consumer)).batch.next);
      await spool.flush();
    }
    expect(held.batch.records.encoded.equals(copy)).toBe(true);
  });
});
