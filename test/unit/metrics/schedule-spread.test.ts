import { describe, expect, it } from 'vitest';
import { nodeCronScheduler } from '../../../src/metrics/node-cron-scheduler.js';
import { scheduleSpreadMs } from '../../../src/metrics/scheduler.js';
import { eventually } from '../../support/test-env.js';

describe('schedule spread (docs/fleet.md)', () => {
  it('offsets a round by up to half its interval, at most 30 s', () => {
    expect(scheduleSpreadMs(60, () => 0)).toBe(0);
    expect(scheduleSpreadMs(60, () => 0.999_99)).toBe(29_999);
    expect(scheduleSpreadMs(120, () => 0.999_99)).toBe(29_999);
    expect(scheduleSpreadMs(10, () => 0.999_99)).toBe(4_999);
  });

  it('node-cron runs the job only after its offset', async () => {
    const runs: number[] = [];
    const started = Date.now();
    const job = nodeCronScheduler.schedule(
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
