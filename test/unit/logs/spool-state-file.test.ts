import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogSpool } from '../../../src/logs/log-spool.js';

// The state file's own failures must mean duplicates, never loss: with no state.json that
// parses, consumers start at the oldest segment and sources have no checkpoint (they start over).
describe('LogSpool with a state.json it cannot use', () => {
  let dir: string;
  const signal = new AbortController().signal;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'taupage-spool-state-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A spool with 6 records, the first 2 acknowledged by `cw`; returns where `cw` acknowledged to. */
  async function spoolWithCursor(): Promise<{ segment: number; offset: number }> {
    const spool = await LogSpool.open({ dir, consumers: ['cw'] });
    for (let n = 0; n < 6; n++)
      spool.write(
        { timestamp: 1, source: 'application', message: `line ${String(n)}` },
        {
          key: 'container:app',
          value: { since: '1.000000000', count: n + 1 },
        },
      );
    await spool.flush();
    const read = await spool.read('cw', 1024, signal, 2);
    await spool.ack('cw', read.next);
    await spool.close();
    const reopened = await LogSpool.open({ dir, consumers: ['cw'] });
    expect((await reopened.read('cw', 1024, signal)).from).toEqual(read.next);
    expect(reopened.checkpoint('container:app')).toEqual({ since: '1.000000000', count: 6 });
    await reopened.close();
    return read.next;
  }

  it.each([
    ['cut short', (text: string) => text.slice(0, text.length - 5)],
    ['empty', () => ''],
    ['zeroed', (text: string) => '\u0000'.repeat(text.length)],
  ])('%s: consumers start at the oldest segment, sources without a checkpoint', async (_what, damage) => {
    const acked = await spoolWithCursor();
    const path = join(dir, 'state.json');
    await writeFile(path, damage(await readFile(path, 'utf8')));
    const spool = await LogSpool.open({ dir, consumers: ['cw'] });
    const again = await spool.read('cw', 1024, signal);
    expect(again.from).toEqual({ segment: acked.segment, offset: 0 });
    expect(again.records.length).toBe(6);
    expect(spool.checkpoint('container:app')).toBeUndefined();
    await spool.close();
  });

  it('missing: the same', async () => {
    const acked = await spoolWithCursor();
    await rm(join(dir, 'state.json'));
    const spool = await LogSpool.open({ dir, consumers: ['cw'] });
    expect((await spool.read('cw', 1024, signal)).from).toEqual({ segment: acked.segment, offset: 0 });
    expect(spool.checkpoint('container:app')).toBeUndefined();
    await spool.close();
  });
});

describe('LogSpool while state.json cannot be written', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'taupage-spool-state-fail-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('hands records that are on disk to a waiting reader all the same (the checkpoint waits, not the delivery)', async () => {
    const spool = await LogSpool.open({ dir, consumers: ['cw'] });
    // The save's temp file cannot be created: every state save fails.
    await mkdir(join(dir, 'state.json.tmp'));
    const reading = spool.read('cw', 1024, new AbortController().signal);
    spool.write(
      { timestamp: 1, source: 'application', message: 'line 0' },
      {
        key: 'container:app',
        value: { since: '1.000000000', count: 1 },
      },
    );
    await expect(spool.flush()).rejects.toThrow(/state\.json\.tmp/);
    const batch = await reading;
    expect(batch.records.records.map((r) => r.message)).toEqual(['line 0']);
    // The source checkpoint did not reach the disk: a restart would read the line again (a duplicate).
    await expect(readFile(join(dir, 'state.json'), 'utf8')).rejects.toThrow(/ENOENT/);
    await rm(join(dir, 'state.json.tmp'), { recursive: true });
    await spool.close();
  });

  it('takes an acknowledgement whose cursor cannot be saved (the destination goes on), and saves it once it can', async () => {
    const spool = await LogSpool.open({ dir, consumers: ['cw'] });
    for (let n = 0; n < 4; n++)
      spool.write({ timestamp: 1, source: 'application', message: `line ${String(n)}` }, undefined);
    await spool.flush();
    await mkdir(join(dir, 'state.json.tmp'));
    const batch = await spool.read('cw', 1024, new AbortController().signal, 2);
    expect(batch.from.segment).toBeLessThan(Number.MAX_SAFE_INTEGER);
    // A full disk under state.json: the delivery is done, the acknowledgement must not throw.
    await spool.ack('cw', batch.next);
    await expect(spool.flush()).rejects.toThrow(/state\.json\.tmp/);
    await rm(join(dir, 'state.json.tmp'), { recursive: true });
    await spool.flush();
    const saved = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as {
      consumers: { cw: unknown };
    };
    expect(saved.consumers.cw).toEqual(batch.next);
    await spool.close();
  });
});
