import { readFile } from 'node:fs/promises';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_STOP_TIMEOUT_SECONDS } from '../../../src/app/boot.js';
import {
  runShutdown,
  SHUTDOWN_STAGES,
  shutdownBudgets,
  shutdownDeadlineMs,
} from '../../../src/app/shutdown.js';
import { systemClock } from '../../../src/core/clock.js';

const log = pino({ level: 'silent' });

async function timeoutStopSeconds(): Promise<number> {
  const unit = await readFile(new URL('../../../systemd/taupage.service', import.meta.url), 'utf8');
  const match = /^TimeoutStopSec=(\d+)s?$/m.exec(unit);
  if (match?.[1] === undefined) throw new Error('TimeoutStopSec= not found in systemd/taupage.service');
  return Number(match[1]);
}

describe('shutdown deadline', () => {
  it("ends a shutdown with the default stop timeout before systemd's TimeoutStopSec= sends SIGKILL", async () => {
    const deadline = shutdownDeadlineMs(DEFAULT_STOP_TIMEOUT_SECONDS);
    expect(deadline).toBeLessThan((await timeoutStopSeconds()) * 1000);
  });

  it('gives the app its stop timeout on top of the agent’s own deadline', () => {
    expect(shutdownDeadlineMs(60) - shutdownDeadlineMs(0)).toBe(60_000);
    expect(shutdownBudgets(60).app - shutdownBudgets(0).app).toBe(60_000);
  });

  it('gives no stage other than the app more than the whole deadline', () => {
    const budgets = shutdownBudgets(DEFAULT_STOP_TIMEOUT_SECONDS);
    for (const { name } of SHUTDOWN_STAGES) {
      if (name === 'app') continue;
      expect(budgets[name], name).toBeLessThanOrEqual(shutdownDeadlineMs(0));
    }
  });
});

describe('runShutdown', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs the stages in SHUTDOWN_STAGES order, whatever order they are given in', async () => {
    const ran: string[] = [];
    const reports = await runShutdown(
      {
        audit: () => void ran.push('audit'),
        'status-endpoint': () => void ran.push('status-endpoint'),
        logs: async () => {
          await Promise.resolve();
          ran.push('logs');
        },
        app: () => void ran.push('app'),
        background: () => void ran.push('background'),
      },
      shutdownBudgets(10),
      { clock: systemClock, log, endsAt: Number.POSITIVE_INFINITY },
    );
    expect(ran).toEqual(['background', 'app', 'logs', 'status-endpoint', 'audit']);
    expect(reports.map((report) => [report.stage, report.outcome])).toEqual(
      ran.map((stage) => [stage, 'done']),
    );
  });

  it('cuts a hung stage at its budget and still runs the ones after it', async () => {
    const budgets = shutdownBudgets(10);
    let audited = false;
    const done = runShutdown(
      {
        logs: () => new Promise<void>(() => undefined),
        audit: () => {
          audited = true;
        },
      },
      budgets,
      { clock: systemClock, log, endsAt: Number.POSITIVE_INFINITY },
    );
    await vi.advanceTimersByTimeAsync(budgets.logs - 1);
    expect(audited).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const reports = await done;
    expect(audited).toBe(true);
    expect(reports.map((report) => [report.stage, report.outcome, report.durationMs])).toEqual([
      ['logs', 'cut', budgets.logs],
      ['audit', 'done', 0],
    ]);
  });

  it('cuts a stage at what is left of the whole deadline when that comes before its budget', async () => {
    const budgets = shutdownBudgets(10);
    const deadlineMs = 30_000;
    let audited = false;
    const done = runShutdown(
      {
        logs: () => new Promise<void>(() => undefined),
        'status-endpoint': () => new Promise<void>(() => undefined),
        audit: () => {
          audited = true;
        },
      },
      budgets,
      { clock: systemClock, log, endsAt: systemClock.now() + deadlineMs },
    );
    await vi.advanceTimersByTimeAsync(deadlineMs);
    const reports = await done;
    expect(audited).toBe(true);
    expect(budgets['status-endpoint']).toBeGreaterThan(deadlineMs - budgets.logs);
    expect(reports.map((report) => [report.stage, report.outcome, report.durationMs])).toEqual([
      ['logs', 'cut', budgets.logs],
      ['status-endpoint', 'cut', deadlineMs - budgets.logs],
      ['audit', 'done', 0],
    ]);
  });

  it('goes on after a stage that fails', async () => {
    const reports = await runShutdown(
      {
        app: () => Promise.reject(new Error('docker is gone')),
        'metrics-endpoint': () => {
          throw new Error('not listening');
        },
        audit: () => undefined,
      },
      shutdownBudgets(10),
      { clock: systemClock, log, endsAt: Number.POSITIVE_INFINITY },
    );
    expect(reports.map((report) => [report.stage, report.outcome])).toEqual([
      ['app', 'failed'],
      ['metrics-endpoint', 'failed'],
      ['audit', 'done'],
    ]);
  });
});
