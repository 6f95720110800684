import { setTimeout as delay } from 'node:timers/promises';
import cron from 'node-cron';
import type { Scheduler } from './scheduler.js';

/** How often the wall clock is compared with monotonic time, and how far it may drift before it counts as a step. */
const CLOCK_CHECK_MS = 1_000;
const CLOCK_STEP_TOLERANCE_MS = 2_000;

/**
 * node-cron plans its next round in wall-clock time and sleeps until then: after the clock is
 * stepped back (NTP correcting a wrong clock, a VM resumed), every schedule would stall for as
 * long as the step (an hour without termination-notice polls, credentials refresh or metrics).
 * Fault campaign, issue 15. A step is noticed by comparing the wall clock with monotonic time,
 * and each task is restarted, which plans its next round from the new time.
 */
class ClockStepWatch {
  readonly #tasks = new Set<{ stop(): unknown; start(): unknown }>();
  #timer: NodeJS.Timeout | undefined;
  #wall = 0;
  #mono = 0;

  add(task: { stop(): unknown; start(): unknown }): () => void {
    this.#tasks.add(task);
    if (this.#timer === undefined) {
      this.#mark();
      this.#timer = setInterval(() => {
        this.#check();
      }, CLOCK_CHECK_MS);
      this.#timer.unref();
    }
    return () => {
      this.#tasks.delete(task);
      if (this.#tasks.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }

  #mark(): void {
    this.#wall = Date.now();
    this.#mono = performance.now();
  }

  #check(): void {
    const expected = this.#wall + (performance.now() - this.#mono);
    const stepped = Math.abs(Date.now() - expected) > CLOCK_STEP_TOLERANCE_MS;
    this.#mark();
    if (!stepped) return;
    for (const task of this.#tasks) {
      task.stop();
      task.start();
    }
  }
}

const clockSteps = new ClockStepWatch();

/**
 * Scheduler adapter: node-cron, in-process. noOverlap: a slow round is never doubled up;
 * unref: a schedule never keeps the process alive on shutdown; a wall-clock step restarts it.
 */
export const nodeCronScheduler: Scheduler = {
  schedule(expression, job, options = {}) {
    const offsetMs = options.offsetMs ?? 0;
    const stopped = new AbortController();
    // The offset wait is part of the round (noOverlap still holds) and never keeps the process up.
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
    const task = cron.schedule(expression, run, { noOverlap: true, unref: true, name: 'taupage-metrics' });
    const forget = clockSteps.add(task);
    return {
      stop: () => {
        stopped.abort();
        forget();
        void task.destroy();
      },
    };
  },
};
