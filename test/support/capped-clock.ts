import { systemClock, type Clock } from '../../src/core/clock.js';

/**
 * Real time, but no sleep longer than `maxSleepMs`: retry and backoff policies run through all
 * their attempts in a short test instead of being waited out. Not a wait for a condition (tests
 * poll those with `eventually`). `skewMs` moves `now` (a test reads it to age a state).
 */
export function cappedClock(maxSleepMs: number, skewMs: () => number = () => 0): Clock {
  return {
    now: () => Date.now() + skewMs(),
    sleep: (ms, signal) => systemClock.sleep(Math.min(ms, maxSleepMs), signal),
  };
}
