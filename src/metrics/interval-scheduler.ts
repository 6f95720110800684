import type { Scheduler } from './scheduler.js';

/**
 * The period of a schedule everySeconds() wrote: "every N seconds" (N divides a minute) or
 * "every M minutes" (M divides an hour). Anything else is a programming error.
 */
export function periodMs(expression: string): number {
  const seconds = /^(?:\*|\*\/(\d+)) \* \* \* \* \*$/.exec(expression);
  if (seconds) return Number(seconds[1] ?? 1) * 1000;
  const minutes = /^0 (?:\*|\*\/(\d+)) \* \* \* \*$/.exec(expression);
  if (minutes) return Number(minutes[1] ?? 1) * 60_000;
  throw new Error(`not an everySeconds() schedule: ${expression}`);
}

/**
 * Scheduler adapter: the rounds of an everySeconds() schedule on plain timers, aligned to the
 * wall clock like cron's (a 10 s schedule runs at :00, :10, …; a 5 min one at :00, :05, … UTC),
 * each round `offsetMs` after its tick when given (scheduleSpreadMs: a fleet not in lockstep).
 * Each round plans the next from the wall clock of the moment, with a timer (monotonic time),
 * so a clock stepped back or forward (NTP, a VM resumed) delays no round by the step. A round
 * still running when the next one is due makes that one skip (never two at once); a job's
 * rejection is its own business (the jobs report their own errors); timers never keep the
 * process alive.
 *
 * It replaced node-cron, which matched every second against a localized calendar time: its
 * Intl.DateTimeFormat made Node load ICU's time-zone and calendar data, ~8 MB of the agent's
 * idle RSS, and it slept in wall-clock time (after a step back, an hour without rounds).
 */
export const intervalScheduler: Scheduler = {
  schedule(expression, job, options = {}) {
    const period = periodMs(expression);
    const offset = options.offsetMs ?? 0;
    let timer: NodeJS.Timeout | undefined;
    let running = false;
    let stopped = false;
    // The round of the first tick after now, or (after a round) of the tick after the one just
    // run: half a period of slack, so that a timer firing a millisecond before the wall clock
    // reaches its round does not plan that same round again. A round runs `offset` after its tick.
    const plan = (afterRound: boolean): void => {
      const now = Date.now();
      const from = afterRound ? now - offset + period / 2 : now;
      const tick = Math.floor(from / period + 1) * period;
      timer = setTimeout(round, tick + offset - now);
      timer.unref();
    };
    const round = (): void => {
      if (stopped) return;
      plan(true);
      if (running) return;
      running = true;
      job()
        .catch(() => undefined)
        .finally(() => {
          running = false;
        });
    };
    plan(false);
    return {
      stop: () => {
        stopped = true;
        clearTimeout(timer);
      },
    };
  },
};
