import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogSpool } from '../../../src/logs/log-spool.js';
import { SpoolStateFile } from '../../../src/logs/spool-state-file.js';
import { eventually } from '../../support/test-env.js';

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** A state file whose clock moves only when the test says. */
function stateAt(path: string, clock: { now: number }, durableIntervalMs = 1000): SpoolStateFile {
  return new SpoolStateFile(path, { durableIntervalMs, now: () => clock.now });
}

/** The cursor `cw`'s offset in the fsync'd copy only. */
async function durableOffset(path: string): Promise<number | undefined> {
  const doc = JSON.parse(await readFile(path, 'utf8')) as { consumers: Record<string, { offset: number }> };
  return doc.consumers.cw?.offset;
}

async function loaded(path: string): Promise<SpoolStateFile> {
  const state = new SpoolStateFile(path);
  await state.load();
  return state;
}

describe('SpoolStateFile', () => {
  let dir: string;
  let path: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'taupage-spool-state-'));
    path = join(dir, 'state.json');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fsyncs at most one write per interval and writes the others to the unsynced copy, which load prefers while newer', async () => {
    const clock = { now: 0 };
    const state = stateAt(path, clock);
    state.consumers.set('cw', { segment: 1, offset: 100 });
    await state.save();
    expect(await exists(state.unsyncedPath)).toBe(false);
    clock.now = 10;
    state.consumers.set('cw', { segment: 1, offset: 200 });
    state.sources.set('container:app', { file: 'a', offset: 7 });
    await state.save();
    // The fsync'd copy still holds the first write; the second is in the unsynced one.
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ consumers: { cw: { offset: 100 } } });
    const again = await loaded(path);
    expect(again.consumers.get('cw')).toEqual({ segment: 1, offset: 200 });
    expect(again.sources.get('container:app')).toEqual({ file: 'a', offset: 7 });
    // A write once the interval is over is fsync'd again, and newer than the unsynced copy.
    clock.now = 1010;
    state.consumers.set('cw', { segment: 1, offset: 300 });
    await state.save();
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ consumers: { cw: { offset: 300 } } });
    expect((await loaded(path)).consumers.get('cw')).toEqual({ segment: 1, offset: 300 });
    await state.close();
  });

  it.each([
    ['empty', async (file: string) => truncate(file, 0)],
    ['cut short', async (file: string) => truncate(file, (await stat(file)).size - 3)],
    ['zeroed', async (file: string) => writeFile(file, Buffer.alloc((await stat(file)).size))],
  ])(
    'after a power loss that left the unsynced copy %s, load uses the fsync’d one',
    async (_what, damage) => {
      const clock = { now: 0 };
      const state = stateAt(path, clock);
      state.consumers.set('cw', { segment: 2, offset: 50 });
      await state.save();
      clock.now = 5;
      state.consumers.set('cw', { segment: 2, offset: 90 });
      await state.save();
      await damage(state.unsyncedPath);
      expect((await loaded(path)).consumers.get('cw')).toEqual({ segment: 2, offset: 50 });
    },
  );

  it('writes the fsync’d copy once the interval is over, and on close', async () => {
    const state = new SpoolStateFile(path, { durableIntervalMs: 50 });
    state.consumers.set('cw', { segment: 3, offset: 1 });
    await state.save();
    state.consumers.set('cw', { segment: 3, offset: 2 });
    await state.save();
    await eventually(
      async () => ((await durableOffset(path)) === 2 ? true : undefined),
      'the timer to write the fsync’d copy',
      5000,
    );
    const clock = { now: 0 };
    const other = stateAt(join(dir, 'other.json'), clock);
    other.consumers.set('cw', { segment: 4, offset: 1 });
    await other.save();
    other.consumers.set('cw', { segment: 4, offset: 2 });
    await other.save();
    expect(await durableOffset(join(dir, 'other.json'))).toBe(1);
    await other.close();
    expect(await durableOffset(join(dir, 'other.json'))).toBe(2);
    await state.close();
  });

  it('reads a state file written before the unsynced copy existed (no seq)', async () => {
    await writeFile(
      path,
      JSON.stringify({ version: 1, sources: {}, consumers: { cw: { segment: 5, offset: 9 } } }),
    );
    expect((await loaded(path)).consumers.get('cw')).toEqual({ segment: 5, offset: 9 });
  });

  it('with no copy that parses, consumers start at the first segment (duplicates, not loss)', async () => {
    const spoolDir = join(dir, 'spool');
    const signal = new AbortController().signal;
    const first = await LogSpool.open({ dir: spoolDir, consumers: ['cw'] });
    for (let n = 0; n < 6; n++)
      first.write({ timestamp: 1, source: 'application', message: `line ${String(n)}` }, undefined);
    await first.flush();
    const read = await first.read('cw', 1024, signal, 2);
    await first.ack('cw', read.next);
    await first.close();
    const reopened = await LogSpool.open({ dir: spoolDir, consumers: ['cw'] });
    expect((await reopened.read('cw', 1024, signal)).from).toEqual(read.next);
    await reopened.close();
    await writeFile(join(spoolDir, 'state.json'), '{"version":1,"seq":9,"consumers":{"cw":{"segm');
    await rm(join(spoolDir, 'state.json.unsynced'), { force: true });
    const second = await LogSpool.open({ dir: spoolDir, consumers: ['cw'] });
    const again = await second.read('cw', 1024, signal);
    expect(again.from).toEqual({ segment: read.from.segment, offset: 0 });
    expect(again.records.length).toBe(6);
    await second.close();
  });
});
