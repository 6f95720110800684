/** Port: runs a job on a cron schedule (interval-scheduler.ts in production, a manual trigger in tests). */
export interface Scheduler {
  schedule(expression: string, job: () => Promise<void>): { stop(): void };
}

/**
 * A cron expression (six fields, seconds first) for "every `seconds`". Intervals
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
