import cron from 'node-cron';
import type { Scheduler } from './scheduler.js';

/**
 * Scheduler adapter: node-cron, in-process. noOverlap: a slow round is never doubled up;
 * unref: a schedule never keeps the process alive on shutdown.
 */
export const nodeCronScheduler: Scheduler = {
  schedule(expression, job) {
    const task = cron.schedule(expression, job, { noOverlap: true, unref: true, name: 'taupage-metrics' });
    return {
      stop: () => {
        void task.destroy();
      },
    };
  },
};
