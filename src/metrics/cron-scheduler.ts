import { setTimeout as delay } from 'node:timers/promises';
import { Cron } from 'croner';
import type { Scheduler } from './scheduler.js';

/**
 * Scheduler adapter: croner, in-process. protect: a slow round is never doubled up; unref: a
 * schedule never keeps the process alive on shutdown.
 *
 * Wall-clock steps (NTP correcting a wrong clock, a VM resumed; fault campaign, issue 15): croner
 * sleeps at most 30 s at a time and then plans again from the current time, so a step back does
 * not stall a schedule for as long as the step (node-cron did, and needed a watch restarting it).
 *
 * Memory: croner computes its rounds with Date's own methods; node-cron built Intl.DateTimeFormat
 * objects for every round, which makes Node read ICU's locale and time-zone data, part of its
 * binary: ~7 MB more resident memory for the whole run (docs/ami.md, issue 16).
 */
export const cronScheduler: Scheduler = {
  schedule(expression, job, options = {}) {
    const offsetMs = options.offsetMs ?? 0;
    const stopped = new AbortController();
    // The offset wait is part of the round (protect still holds) and never keeps the process up.
    const run =
      offsetMs > 0
        ? async (): Promise<void> => {
            try {
              await delay(offsetMs, undefined, { signal: stopped.signal, ref: false });
            } catch {
              return;
            }
            await job();
          }
        : job;
    const task = new Cron(expression, { protect: true, unref: true, catch: reportFailedRound }, run);
    return {
      stop: () => {
        stopped.abort();
        task.stop();
      },
    };
  },
};

/** Jobs handle their own errors; one that escapes is reported on one line (and the schedule goes on). */
function reportFailedRound(error: unknown): void {
  process.stderr.write(`scheduled round failed: ${error instanceof Error ? error.message : String(error)}\n`);
}
