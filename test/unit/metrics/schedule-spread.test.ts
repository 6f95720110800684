import { afterEach, describe, expect, it, vi } from 'vitest';
import { cronScheduler } from '../../../src/metrics/cron-scheduler.js';
import { everySeconds, scheduleSpreadMs } from '../../../src/metrics/scheduler.js';
import { eventually } from '../../support/test-env.js';

describe('schedule spread (docs/fleet.md)', () => {
  it('offsets a round by up to half its interval, at most 30 s', () => {
    expect(scheduleSpreadMs(60, () => 0)).toBe(0);
    expect(scheduleSpreadMs(60, () => 0.999_99)).toBe(29_999);
    expect(scheduleSpreadMs(120, () => 0.999_99)).toBe(29_999);
    expect(scheduleSpreadMs(10, () => 0.999_99)).toBe(4_999);
  });

  it('the cron scheduler runs the job only after its offset', async () => {
    const runs: number[] = [];
    const started = Date.now();
    const job = cronScheduler.schedule(
      '* * * * * *',
      () => {
        runs.push(Date.now());
        return Promise.resolve();
      },
      { offsetMs: 1_200 },
    );
    try {
      // Ticks come every second; each run waits 1.2 s after its tick: none before 1.2 s.
      await eventually(() => Promise.resolve(runs.length >= 1 ? true : undefined), 'a first run', 4_000);
      expect((runs[0] ?? 0) - started).toBeGreaterThanOrEqual(1_200);
    } finally {
      job.stop();
    }
  });
});

describe('the cron scheduler and the wall clock (fault campaign, issue 15)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // Monotonic timers go on while Date jumps, as on a host whose clock NTP corrects.
  async function runsAround(stepMs: number): Promise<{ before: number; after: number }> {
    vi.useFakeTimers({ now: Date.parse('2026-12-07T12:00:00.500Z') });
    let runs = 0;
    const job = cronScheduler.schedule(everySeconds(10), () => {
      runs += 1;
      return Promise.resolve();
    });
    try {
      await vi.advanceTimersByTimeAsync(30_000);
      const before = runs;
      vi.setSystemTime(Date.now() + stepMs);
      await vi.advanceTimersByTimeAsync(60_000);
      return { before, after: runs - before };
    } finally {
      job.stop();
    }
  }

  it('keeps every-10-s rounds on pace after the clock is stepped back by an hour', async () => {
    const { before, after } = await runsAround(-3_600_000);
    expect(before).toBe(3);
    // 60 s after the step: rounds again (at most 30 s lost while croner re-plans), not an hour of nothing.
    expect(after).toBeGreaterThanOrEqual(3);
  });

  it('does not run the missed rounds of a step forward at once', async () => {
    const { after } = await runsAround(3_600_000);
    expect(after).toBeGreaterThanOrEqual(5);
    expect(after).toBeLessThanOrEqual(7);
  });
});
