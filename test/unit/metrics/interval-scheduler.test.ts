import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { intervalScheduler, periodMs } from '../../../src/metrics/interval-scheduler.js';
import { everySeconds } from '../../../src/metrics/scheduler.js';

const HOUR = 3_600_000;
// A wall clock 3 s before a round of every 10 s (and of every minute: 12:00:00 UTC is next).
const START = Date.parse('2026-12-07T11:59:57.000Z');

beforeEach(() => {
  vi.useFakeTimers({ now: START });
});
afterEach(() => {
  vi.useRealTimers();
});

/** The wall-clock times (ISO) at which the job ran. */
function recorder(work: () => Promise<void> = () => Promise.resolve()) {
  const runs: string[] = [];
  const job = async () => {
    runs.push(new Date(Date.now()).toISOString());
    await work();
  };
  return { runs, job };
}

describe('periodMs', () => {
  it('reads back every schedule everySeconds writes, and nothing else', () => {
    for (const seconds of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600])
      expect(periodMs(everySeconds(seconds))).toBe(seconds * 1000);
    expect(() => periodMs('0 0 * * * *')).toThrow(/not an everySeconds\(\) schedule: 0 0 \* \* \* \*/);
    expect(() => periodMs('*/10 * * * *')).toThrow(/not an everySeconds/);
  });
});

describe('intervalScheduler', () => {
  it('runs rounds aligned to the wall clock, like cron', async () => {
    const { runs, job } = recorder();
    const task = intervalScheduler.schedule(everySeconds(10), job);
    await vi.advanceTimersByTimeAsync(32_000);
    task.stop();
    expect(runs).toEqual([
      '2026-12-07T12:00:00.000Z',
      '2026-12-07T12:00:10.000Z',
      '2026-12-07T12:00:20.000Z',
    ]);
    const minutes = recorder();
    const hourly = intervalScheduler.schedule(everySeconds(300), minutes.job);
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    hourly.stop();
    expect(minutes.runs).toEqual(['2026-12-07T12:05:00.000Z', '2026-12-07T12:10:00.000Z']);
  });

  it('runs a round once when its timer fires a little before the wall clock gets there', async () => {
    const { runs, job } = recorder();
    const task = intervalScheduler.schedule(everySeconds(10), job);
    vi.setSystemTime(Date.now() - 2); // the wall clock 2 ms behind the timers from here on
    await vi.advanceTimersByTimeAsync(21_000);
    task.stop();
    // The next round is planned from the wall clock again: 12:00:10 on the clock.
    expect(runs).toEqual(['2026-12-07T11:59:59.998Z', '2026-12-07T12:00:10.000Z']);
  });

  it('keeps its pace when the wall clock is stepped back or forward by an hour', async () => {
    const { runs, job } = recorder();
    const task = intervalScheduler.schedule(everySeconds(10), job);
    await vi.advanceTimersByTimeAsync(5_000); // 12:00:00 ran; 12:00:10 is due in 8 s
    vi.setSystemTime(Date.now() - HOUR);
    await vi.advanceTimersByTimeAsync(20_000);
    vi.setSystemTime(Date.now() + HOUR);
    await vi.advanceTimersByTimeAsync(20_000);
    task.stop();
    // Every round within one period of the previous one, whatever the wall clock said.
    expect(runs).toHaveLength(5);
    expect(runs.slice(1, 3)).toEqual(['2026-12-07T11:00:10.000Z', '2026-12-07T11:00:20.000Z']);
    expect(runs.slice(3)).toEqual(['2026-12-07T12:00:30.000Z', '2026-12-07T12:00:40.000Z']);
  });

  it('skips a round while the previous one still runs, and survives a failed round', async () => {
    let release: () => void = () => undefined;
    let calls = 0;
    const { runs, job } = recorder(() => {
      calls += 1;
      if (calls === 1) return new Promise<void>((resolve) => (release = resolve));
      if (calls === 2) return Promise.reject(new Error('round failed'));
      return Promise.resolve();
    });
    const task = intervalScheduler.schedule(everySeconds(1), job);
    await vi.advanceTimersByTimeAsync(3_500); // rounds at :58 (hangs), :59 and :00 skipped
    expect(runs).toEqual(['2026-12-07T11:59:58.000Z']);
    release();
    await vi.advanceTimersByTimeAsync(2_000); // :01 fails, :02 runs
    task.stop();
    expect(runs).toEqual([
      '2026-12-07T11:59:58.000Z',
      '2026-12-07T12:00:01.000Z',
      '2026-12-07T12:00:02.000Z',
    ]);
  });

  it('runs each round its offset after the tick, also when the offset exceeds the period', async () => {
    const { runs, job } = recorder();
    const task = intervalScheduler.schedule(everySeconds(10), job, { offsetMs: 4_321 });
    await vi.advanceTimersByTimeAsync(30_000);
    task.stop();
    expect(runs).toEqual([
      '2026-12-07T12:00:04.321Z',
      '2026-12-07T12:00:14.321Z',
      '2026-12-07T12:00:24.321Z',
    ]);
    const late = recorder();
    const every = intervalScheduler.schedule(everySeconds(1), late.job, { offsetMs: 1_200 });
    await vi.advanceTimersByTimeAsync(3_000);
    every.stop();
    // Started at 12:00:27.000: the first tick after it is :28, its round at :29.2.
    expect(late.runs).toEqual(['2026-12-07T12:00:29.200Z']);
  });

  it('runs nothing after stop, and keeps no process alive', async () => {
    const { runs, job } = recorder();
    const task = intervalScheduler.schedule(everySeconds(1), job);
    task.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(runs).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
