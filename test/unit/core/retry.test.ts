import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { backoffDelay, retry, type RetryPolicy } from '../../../src/core/retry.js';

const policy: RetryPolicy = {
  name: 'test',
  maxAttempts: 4,
  initialDelayMs: 100,
  maxDelayMs: 300,
  multiplier: 2,
  jitter: false,
};

describe('retry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries retriable errors with exponential backoff, capped', async () => {
    const delays: number[] = [];
    let calls = 0;
    const promise = retry(
      () => {
        calls++;
        return calls < 4 ? Promise.reject(new Error('transient')) : Promise.resolve('done');
      },
      policy,
      {
        clock: systemClock,
        isRetriable: () => true,
        onRetry: (_error, _attempt, delay) => delays.push(delay),
      },
    );
    await vi.runAllTimersAsync();
    await expect(promise).resolves.toBe('done');
    expect(delays).toEqual([100, 200, 300]);
  });

  it('does not retry permanent errors', async () => {
    let calls = 0;
    const promise = retry(
      () => {
        calls++;
        return Promise.reject(new Error('permanent'));
      },
      policy,
      { clock: systemClock, isRetriable: () => false },
    );
    await expect(promise).rejects.toThrow('permanent');
    expect(calls).toBe(1);
  });

  it('gives up after maxAttempts with the last error', async () => {
    let calls = 0;
    const promise = retry(() => Promise.reject(new Error(`failure ${++calls}`)), policy, {
      clock: systemClock,
      isRetriable: () => true,
    });
    const assertion = expect(promise).rejects.toThrow('failure 4');
    await vi.runAllTimersAsync();
    await assertion;
  });

  it('stops when the next wait would exceed the budget', async () => {
    let calls = 0;
    const promise = retry(
      () => Promise.reject(new Error(`failure ${++calls}`)),
      { ...policy, maxAttempts: 100, budgetMs: 350 },
      {
        clock: systemClock,
        isRetriable: () => true,
      },
    );
    const assertion = expect(promise).rejects.toThrow('failure 3');
    await vi.runAllTimersAsync();
    await assertion;
  });

  it('stops waiting when aborted', async () => {
    const controller = new AbortController();
    const promise = retry(() => Promise.reject(new Error('transient')), policy, {
      clock: systemClock,
      isRetriable: () => true,
      signal: controller.signal,
    });
    const assertion = expect(promise).rejects.toThrow(/aborted/);
    await vi.advanceTimersByTimeAsync(50);
    controller.abort();
    await assertion;
  });

  it('full jitter draws the delay between 0 and the backoff', () => {
    const jittered = { ...policy, jitter: true };
    expect(backoffDelay(jittered, 3, () => 0.5)).toBe(150);
    expect(backoffDelay(jittered, 3, () => 0)).toBe(0);
  });
});
