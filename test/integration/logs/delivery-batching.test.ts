import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/core/redactor.js';
import type { DeliveryResult, LogDestination } from '../../../src/logs/log-destination.js';
import { LogPipeline } from '../../../src/logs/log-pipeline.js';
import type { LineSink, LogRecord, LogSource } from '../../../src/logs/log-record.js';
import type { RecordBatch } from '../../../src/logs/spool-records.js';
import { eventually } from '../../support/test-env.js';

const log = pino({ level: 'silent' });

/** Keeps what it is given, one delivery at a time, and notes whether deliveries overlapped. */
class CollectingDestination implements LogDestination {
  readonly name = 'collect';
  readonly records: LogRecord[] = [];
  deliveries = 0;
  /** Records in each delivery. */
  readonly sizes: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  async deliver({ records }: RecordBatch): Promise<DeliveryResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.deliveries++;
    this.sizes.push(records.length);
    // A round trip: the worker reads ahead meanwhile.
    await yieldToLoop();
    this.records.push(...records);
    this.inFlight--;
    return { rejected: 0 };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Writes `count` numbered lines as fast as the pipeline takes them (a busy app). */
class BurstSource implements LogSource {
  readonly name = 'burst';
  readonly maskJwt = false;
  constructor(readonly count: number) {}
  async run(sink: LineSink, signal: AbortSignal): Promise<void> {
    for (let i = 0; i < this.count && !signal.aborted; i++) {
      if (!sink.writeLine(`line ${i}`, 1_700_000_000_000 + i)) await sink.drained();
      if (i % 1000 === 999) await yieldToLoop();
    }
  }
}

let dir: string;
const pipelines: LogPipeline[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-batching-'));
});
afterEach(async () => {
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(0);
  await rm(dir, { recursive: true, force: true });
});

describe('DestinationWorker batching under load', () => {
  it('never lingers in the middle of a burst or after it: every line, in order, one delivery at a time', async () => {
    const count = 100_000;
    const destination = new CollectingDestination();
    pipelines.push(
      await LogPipeline.start({
        stateDir: join(dir, 'state'),
        sources: [new BurstSource(count)],
        destinations: [destination],
        redactor: new Redactor(),
        log,
        // Far longer than the test may take: a delivery that waits for the linger never arrives.
        lingerMs: 600_000,
      }),
    );
    const messages = await eventually(
      () => Promise.resolve(destination.records.length >= count ? destination.records : undefined),
      `${count} lines`,
    );
    expect(messages.map((r) => r.message)).toEqual(Array.from({ length: count }, (_, i) => `line ${i}`));
    expect(destination.maxInFlight).toBe(1);
    // Batched, not one delivery per spool flush of a few lines.
    expect(destination.deliveries).toBeLessThan(count / 1000);
  });
});

describe('DestinationWorker after a burst', () => {
  it('sends the rest of a burst at once, however the deliveries before it fell (30 bursts)', async () => {
    // The burst's source cannot read again (no checkpoint): its records go to disk at every
    // commit, so deliveries are read from the files, ahead of time and of every size. Once the
    // burst is over, what is left must not wait for the linger (600 s here).
    for (let round = 0; round < 30; round++) {
      const count = 20_000;
      const destination = Object.assign(new CollectingDestination(), {
        deliveryLimits: { bytes: 1_048_576, records: 10_000 },
      });
      const pipeline = await LogPipeline.start({
        stateDir: join(dir, `state-${String(round)}`),
        sources: [new BurstSource(count)],
        destinations: [destination],
        redactor: new Redactor(),
        log,
        lingerMs: 600_000,
      });
      pipelines.push(pipeline);
      await eventually(
        () => Promise.resolve(destination.records.length >= count ? true : undefined),
        `burst ${String(round)}: ${String(count)} lines`,
        10_000,
      );
      await pipeline.stop(0);
      pipelines.splice(pipelines.indexOf(pipeline), 1);
    }
  });
});

describe('DestinationWorker delivery limits', () => {
  it('reads no more than the destination takes in one delivery (CloudWatch: one full request)', async () => {
    const count = 100_000;
    const destination = Object.assign(new CollectingDestination(), {
      deliveryLimits: { bytes: 1_048_576, records: 10_000 },
    });
    pipelines.push(
      await LogPipeline.start({
        stateDir: join(dir, 'state'),
        sources: [new BurstSource(count)],
        destinations: [destination],
        redactor: new Redactor(),
        log,
        lingerMs: 600_000,
      }),
    );
    const messages = await eventually(
      () => Promise.resolve(destination.records.length >= count ? destination.records : undefined),
      `${count} lines`,
    );
    expect(messages.map((r) => r.message)).toEqual(Array.from({ length: count }, (_, i) => `line ${i}`));
    // Never more than one request's worth, and full ones while the burst is read.
    expect(Math.max(...destination.sizes)).toBe(10_000);
    expect(destination.sizes.filter((size) => size === 10_000).length).toBeGreaterThanOrEqual(5);
  });
});

/** Holds each delivery until the test releases it; two may be in flight at once. */
class GatedDestination implements LogDestination {
  readonly name = 'gated';
  readonly concurrentDeliveries = 2;
  readonly held: { first: string; count: number; release: () => void }[] = [];
  readonly records: LogRecord[] = [];
  inFlight = 0;
  mostInFlight = 0;
  constructor(readonly deliveryLimits: { bytes: number; records: number }) {}
  async deliver({ records }: RecordBatch): Promise<DeliveryResult> {
    this.inFlight++;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    await new Promise<void>((release) =>
      this.held.push({ first: records[0]?.message ?? '', count: records.length, release }),
    );
    this.records.push(...records);
    this.inFlight--;
    return { rejected: 0 };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A pipeline of one burst of `count` lines into `destination`, lingering for ever after small deliveries. */
async function startGated(
  destination: GatedDestination,
  count: number,
  maxDeliveryBytes?: number,
): Promise<LogPipeline> {
  const pipeline = await LogPipeline.start({
    stateDir: join(dir, 'state'),
    sources: [new BurstSource(count)],
    destinations: [destination],
    redactor: new Redactor(),
    log,
    lingerMs: 600_000,
    ...(maxDeliveryBytes === undefined ? {} : { maxDeliveryBytes }),
  });
  pipelines.push(pipeline);
  return pipeline;
}

async function savedCursor(): Promise<unknown> {
  const state = JSON.parse(await readFile(join(dir, 'state', 'state.json'), 'utf8')) as {
    consumers: Record<string, unknown>;
  };
  return state.consumers.gated;
}

describe('DestinationWorker with two deliveries in flight (concurrentDeliveries)', () => {
  it('sends the next delivery while one is in flight, and moves the cursor only past acknowledged ones, in order', async () => {
    const count = 5_000;
    const destination = new GatedDestination({ bytes: 1_048_576, records: 1_000 });
    const pipeline = await startGated(destination, count);
    const delivered = (): number => pipeline.status().destinations[0]?.delivered ?? 0;
    // The first delivery goes alone (it may create the stream).
    const first = await eventually(() => Promise.resolve(destination.held[0]), 'the first delivery');
    expect(first).toMatchObject({ first: 'line 0', count: 1_000 });
    await eventually(
      () => Promise.resolve(pipeline.status().spool.pendingBytes === 0 ? true : undefined),
      'every line in the spool',
    );
    expect(destination.inFlight).toBe(1);
    first.release();
    // Then two at once, in spool order.
    await eventually(() => Promise.resolve(destination.held.length >= 3 ? true : undefined), 'two in flight');
    expect(destination.inFlight).toBe(2);
    expect(destination.held.slice(1, 3).map((d) => d.first)).toEqual(['line 1000', 'line 2000']);
    await eventually(
      () => Promise.resolve(delivered() === 1_000 ? true : undefined),
      'the first acknowledged',
    );
    const cursorAfterFirst = await savedCursor();
    // The later one is acknowledged first: the cursor waits for the earlier one.
    destination.held[2]?.release();
    await eventually(
      () => Promise.resolve(destination.inFlight === 1 ? true : undefined),
      'the later one done',
    );
    for (let i = 0; i < 20; i++) await yieldToLoop();
    expect(delivered()).toBe(1_000);
    expect(await savedCursor()).toEqual(cursorAfterFirst);
    expect(destination.held).toHaveLength(3);
    destination.held[1]?.release();
    await eventually(() => Promise.resolve(delivered() === 3_000 ? true : undefined), 'both acknowledged');
    // The rest, releasing whatever comes.
    await eventually(() => {
      for (const held of destination.held) held.release();
      return Promise.resolve(delivered() === count ? true : undefined);
    }, 'every line');
    expect(destination.mostInFlight).toBe(2);
    expect(destination.records.map((r) => r.message).sort()).toEqual(
      Array.from({ length: count }, (_, i) => `line ${i}`).sort(),
    );
  });

  it("keeps one in flight when two would hold more than one delivery's bytes of spool", async () => {
    const count = 2_000;
    const destination = new GatedDestination({ bytes: 1_048_576, records: 1_000_000 });
    // About 800 records of ~40 bytes: a second delivery would not fit beside the first.
    const pipeline = await startGated(destination, count, 32 * 1024);
    await eventually(() => {
      for (const held of destination.held) held.release();
      return Promise.resolve(pipeline.status().destinations[0]?.delivered === count ? true : undefined);
    }, 'every line');
    expect(destination.held.length).toBeGreaterThanOrEqual(3);
    expect(destination.mostInFlight).toBe(1);
  });
});
