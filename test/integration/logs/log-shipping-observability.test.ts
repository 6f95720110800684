import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { logPipelineState } from '../../../src/app/compose-logs.js';
import { Redactor } from '../../../src/core/redactor.js';
import type { DeliveryResult, LogDestination } from '../../../src/logs/log-destination.js';
import { LogPipeline } from '../../../src/logs/log-pipeline.js';
import type { LineSink, LogSource } from '../../../src/logs/log-record.js';
import type { RecordBatch } from '../../../src/logs/spool-records.js';
import { AgentMetrics } from '../../../src/metrics/agent-metrics.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { statusDocument } from '../../../src/status/status-document.js';
import { formatStatusText } from '../../../src/status/status-text.js';
import { eventually } from '../../support/test-env.js';
import { cappedClock } from '../../support/capped-clock.js';

const log = pino({ level: 'silent' });

/**
 * Real time plus `skew` (the test moves it forward to make a long outage without waiting for
 * it); retry back-off shortened to at most 20 ms.
 */
let skew = 0;
const clock = cappedClock(20, () => skew);

/** Counts what it is given; `down` makes every delivery fail; `refuses`: messages with "reject". */
class TestDestination implements LogDestination {
  down = false;
  received = 0;
  constructor(
    readonly name: string,
    readonly refuses = false,
  ) {}
  deliver({ records }: RecordBatch): Promise<DeliveryResult> {
    if (this.down) return Promise.reject(new Error(`${this.name} is unreachable`));
    const rejected = this.refuses ? records.filter((r) => r.message.includes('reject')).length : 0;
    this.received += records.length - rejected;
    return Promise.resolve({ rejected });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Lines the test pushes (an app that logs when told to). */
class PushSource implements LogSource {
  readonly name = 'application';
  readonly maskJwt = false;
  #sink: LineSink | undefined;
  written = 0;
  run(sink: LineSink, signal: AbortSignal): Promise<void> {
    this.#sink = sink;
    return new Promise((resolve) => {
      signal.addEventListener(
        'abort',
        () => {
          resolve();
        },
        { once: true },
      );
    });
  }
  async push(count: number, text = 'line'): Promise<void> {
    const sink = await eventually(() => Promise.resolve(this.#sink), 'the source running');
    for (let i = 0; i < count; i++) {
      this.written++;
      // ~34 bytes a line, so 500 lines fill a 16 KiB segment.
      if (!sink.writeLine(`${text} ${String(this.written).padStart(8, '0')} ........`, clock.now()))
        await sink.drained();
    }
  }
}

function newState(): AgentState {
  return new AgentState(new BootTimeline(clock, []), {
    version: '1.0.0',
    commit: 'abc',
    mode: 'ec2',
    startedAt: new Date(0).toISOString(),
  });
}

/** The value of one sample in a Prometheus text scrape (fails the test when it is missing). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  expect(line, series).toBeDefined();
  return Number(line?.slice(series.length + 1));
}

let dir: string;
let pipeline: LogPipeline | undefined;
beforeEach(async () => {
  skew = 0;
  dir = await mkdtemp(join(tmpdir(), 'taupage-log-observability-'));
});
afterEach(async () => {
  await pipeline?.stop(0);
  pipeline = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('log shipping observability (real pipeline and spool, scraped through AgentMetrics)', () => {
  it('an outage shows as failing and lag; spool-full drops and rejections are counted, never silent', async () => {
    const source = new PushSource();
    const remote = new TestDestination('remote', true);
    const steady = new TestDestination('steady');
    pipeline = await LogPipeline.start({
      stateDir: join(dir, 'state'),
      sources: [source],
      destinations: [remote, steady],
      redactor: new Redactor(),
      log,
      clock,
      lingerMs: 20,
      spool: { flushIntervalMs: 10, maxDiskBytes: 64 * 1024, segmentBytes: 16 * 1024 },
    });
    const running = pipeline;
    const state = newState();
    state.logPipelineStarted(() => logPipelineState(running.status()));
    const metrics = new AgentMetrics(state);
    const scrape = (): Promise<string> => metrics.registry.metrics();
    // Caught up: no lag, and every record written so far accounted for. The lag alone is 0 for
    // a moment after a write, before the group commit (lag_bytes counts the spool on disk, and
    // lag_seconds counts from that write): a push then joined the next one in one group commit,
    // larger than this spool's disk bound, which then dropped records "steady" had not read yet.
    const caughtUp = (name: string): Promise<true> =>
      eventually(async () => {
        const text = await scrape();
        const accounted = ['delivered', 'rejected', 'dropped']
          .map((outcome) =>
            sample(text, `taupage_log_records_total{destination="${name}",outcome="${outcome}"}`),
          )
          .reduce((a, b) => a + b, 0);
        return sample(text, `taupage_log_destination_lag_bytes{destination="${name}"}`) === 0 &&
          sample(text, `taupage_log_destination_lag_seconds{destination="${name}"}`) === 0 &&
          accounted === source.written
          ? true
          : undefined;
      }, `${name} caught up`);

    // Healthy: everything delivered, two refused for good by the remote end.
    await source.push(8);
    await source.push(2, 'reject');
    await caughtUp('remote');
    await caughtUp('steady');
    let text = await scrape();
    expect(sample(text, 'taupage_log_records_total{destination="remote",outcome="delivered"}')).toBe(8);
    expect(sample(text, 'taupage_log_records_total{destination="remote",outcome="rejected"}')).toBe(2);
    expect(sample(text, 'taupage_log_records_total{destination="steady",outcome="delivered"}')).toBe(10);
    expect(sample(text, 'taupage_log_destination_failing{destination="remote"}')).toBe(0);
    expect(sample(text, 'taupage_log_source_lines_total{source="application"}')).toBe(10);

    // A quiet minute: caught up, so no lag however long ago the last delivery was.
    skew += 60_000;
    text = await scrape();
    expect(sample(text, 'taupage_log_destination_lag_seconds{destination="remote"}')).toBe(0);

    // The remote end goes down: failing, and the lag counts from when it fell behind.
    remote.down = true;
    await source.push(10);
    await eventually(async () => {
      const current = await scrape();
      return sample(current, 'taupage_log_destination_failing{destination="remote"}') === 1
        ? true
        : undefined;
    }, 'remote failing');
    await caughtUp('steady');
    skew += 120_000;
    text = await scrape();
    const lag = sample(text, 'taupage_log_destination_lag_seconds{destination="remote"}');
    expect(lag).toBeGreaterThanOrEqual(120);
    expect(lag).toBeLessThan(150);
    expect(sample(text, 'taupage_log_destination_lag_seconds{destination="steady"}')).toBe(0);
    expect(sample(text, 'taupage_log_delivery_failures_total{destination="remote"}')).toBeGreaterThan(0);
    expect(formatStatusText(statusDocument(state, clock.now()))).toContain(
      'logs          remote FAILING (remote is unreachable), 8 delivered, 0 dropped, 2 rejected',
    );

    // The spool's disk bound (64 KiB) is hit while the remote is down: its oldest records go.
    for (let step = 0; step < 12; step++) {
      await source.push(500);
      await caughtUp('steady');
    }
    text = await scrape();
    const dropped = sample(text, 'taupage_log_records_total{destination="remote",outcome="dropped"}');
    expect(dropped).toBeGreaterThan(0);
    expect(sample(text, 'taupage_log_records_total{destination="steady",outcome="dropped"}')).toBe(0);
    expect(sample(text, 'taupage_log_spool_disk_bytes')).toBeLessThanOrEqual(64 * 1024 + 16 * 1024);
    expect(sample(text, 'taupage_log_destination_lag_bytes{destination="remote"}')).toBeGreaterThan(0);
    const document = JSON.parse(JSON.stringify(statusDocument(state, clock.now()))) as {
      logShipping: { destinations: Record<string, unknown>[] };
    };
    expect(document.logShipping.destinations[0]).toMatchObject({
      destination: 'remote',
      failing: true,
      dropped,
      rejected: 2,
      droppedLines: dropped + 2,
      lastError: 'remote is unreachable',
    });

    // Back up: it catches up, and every line written is accounted for exactly once.
    remote.down = false;
    await caughtUp('remote');
    text = await scrape();
    expect(sample(text, 'taupage_log_destination_failing{destination="remote"}')).toBe(0);
    const total = (name: string): number =>
      ['delivered', 'rejected', 'dropped']
        .map((outcome) =>
          sample(text, `taupage_log_records_total{destination="${name}",outcome="${outcome}"}`),
        )
        .reduce((a, b) => a + b, 0);
    expect(source.written).toBe(6_020);
    expect(total('remote')).toBe(source.written);
    expect(total('steady')).toBe(source.written);
    expect(sample(text, 'taupage_log_source_lines_total{source="application"}')).toBe(source.written);
  });
});
