import { spreadOffset } from '../core/throttling.js';

export interface ScheduleOptions {
  /**
   * Run the job this long after each tick. Cron ticks fall on the same wall-clock second on
   * every instance; a per-instance offset keeps a fleet from calling AWS in lockstep.
   */
  readonly offsetMs?: number;
}

/** Port: runs a job on a cron schedule (node-cron in production, a manual trigger in tests). */
export interface Scheduler {
  schedule(expression: string, job: () => Promise<void>, options?: ScheduleOptions): { stop(): void };
}

/**
 * A random per-instance offset for a schedule every `intervalSeconds`: up to half the interval
 * (so a round with a third of the interval as its deadline ends before the next tick), at most
 * 30 s. 1,000 instances publishing every minute then call ~33 times a second, not 1,000 at :00.
 */
export function scheduleSpreadMs(intervalSeconds: number, random: () => number = Math.random): number {
  return spreadOffset(Math.min(intervalSeconds * 500, 30_000), random);
}

/**
 * A cron expression (node-cron's six fields, seconds first) for "every `seconds`". Intervals
 * must divide a minute or an hour evenly, so rounds stay aligned to the clock like cron's.
 */
export function everySeconds(seconds: number): string {
  if (Number.isInteger(seconds) && seconds >= 1 && seconds < 60 && 60 % seconds === 0)
    return seconds === 1 ? '* * * * * *' : `*/${seconds} * * * * *`;
  const minutes = seconds / 60;
  if (Number.isInteger(minutes) && minutes >= 1 && minutes <= 60 && 60 % minutes === 0)
    return minutes === 1 ? '0 * * * * *' : `0 */${minutes} * * * *`;
  throw new Error(`an interval of ${seconds} s does not divide a minute or an hour (try 10, 30, 60, 300)`);
}
