import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { HEALTH_POLL, waitForHealthy } from '../../../src/health/http-health-check.js';

describe('waitForHealthy', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('probes at once and passes on the first HTTP 200', async () => {
    const probe = vi.fn(() => Promise.resolve(200));
    const result = await waitForHealthy({
      url: 'http://x/h',
      timeoutMs: 1000,
      clock: systemClock,
      signal: new AbortController().signal,
      probe,
    });
    expect(result.attempts).toBe(1);
    expect(probe).toHaveBeenCalledTimes(1);
  });

  /** Runs the poll (fake timers) against an app that answers 200 from `readyAt` ms on: the probes' times. */
  async function pollUntilReady(readyAt: number): Promise<number[]> {
    const start = Date.now();
    const probeTimes: number[] = [];
    const probe = () => {
      probeTimes.push(Date.now() - start);
      return Promise.resolve(Date.now() - start >= readyAt ? 200 : 503);
    };
    const promise = waitForHealthy({
      url: 'http://x/h',
      timeoutMs: 10_000,
      clock: systemClock,
      signal: new AbortController().signal,
      probe,
    });
    await vi.advanceTimersByTimeAsync(readyAt + HEALTH_POLL.maxIntervalMs);
    await promise;
    return probeTimes;
  }

  it('never waits longer than the maximum interval between probes', async () => {
    const readyAt = 3_000;
    const probeTimes = await pollUntilReady(readyAt);
    const gaps = probeTimes.slice(1).map((time, index) => time - (probeTimes[index] ?? 0));
    expect(Math.max(...gaps)).toBeLessThanOrEqual(HEALTH_POLL.maxIntervalMs);
    expect((probeTimes.at(-1) ?? 0) - readyAt).toBeLessThanOrEqual(HEALTH_POLL.maxIntervalMs);
  });

  // Issue 16: readiness seen within 20 ms of the container's start. An app that answers a few ms
  // after the first probe (the usual case: the first probe goes out as the container starts) is
  // seen within half its own start time plus 2 ms (intervals grow ×1.5), not at a 25 ms tick.
  it.each([1, 3, 8, 15, 17, 40])('sees an app ready %i ms after the first probe soon', async (readyAt) => {
    const probeTimes = await pollUntilReady(readyAt);
    const seenAt = probeTimes.at(-1) ?? NaN;
    expect(probeTimes.filter((time) => time >= readyAt)).toEqual([seenAt]);
    expect(seenAt - readyAt).toBeLessThanOrEqual(readyAt / 2 + 2);
  });

  it('times out with HEALTH_CHECK_TIMEOUT naming the last answer', async () => {
    const probe = () => Promise.resolve(503);
    const promise = waitForHealthy({
      url: 'http://x/h',
      timeoutMs: 2_000,
      clock: systemClock,
      signal: new AbortController().signal,
      probe,
    });
    const assertion = expect(promise).rejects.toMatchObject({
      code: 'HEALTH_CHECK_TIMEOUT',
      message: expect.stringContaining('last: HTTP 503') as unknown,
    });
    await vi.advanceTimersByTimeAsync(2_500);
    await assertion;
  });

  it('treats connection errors as not ready yet', async () => {
    let calls = 0;
    const probe = () => (++calls < 3 ? Promise.reject(new TypeError('fetch failed')) : Promise.resolve(200));
    const promise = waitForHealthy({
      url: 'http://x/h',
      timeoutMs: 2_000,
      clock: systemClock,
      signal: new AbortController().signal,
      probe,
    });
    await vi.advanceTimersByTimeAsync(500);
    await expect(promise).resolves.toMatchObject({ attempts: 3 });
  });
});
