import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TaupageError } from '../../../src/core/errors.js';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import { drainOnTermination, type DrainSteps } from '../../../src/lifecycle/lifecycle-drain.js';
import { terminationNoticeOf, type TerminationNotice } from '../../../src/lifecycle/lifecycle-watcher.js';

const log = createLogger({ level: 'silent', redactor: new Redactor() });
const terminated: TerminationNotice = { source: 'autoscaling', targetState: 'Terminated' };

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Steps that record what ran, each finishing after `ms` (or never, or failing). */
function steps(
  behaviour: Partial<Record<'stop' | 'logs' | 'audit' | 'complete', number | 'never' | 'fail'>> = {},
) {
  const events: string[] = [];
  const signals: Record<string, AbortSignal> = {};
  const step =
    (name: 'stop' | 'logs' | 'audit' | 'complete') =>
    (signal: AbortSignal): Promise<void> => {
      events.push(`start ${name}`);
      signals[name] = signal;
      const how = behaviour[name] ?? 0;
      if (how === 'fail') return Promise.reject(new TaupageError('LOG_SHIP_FAILED', `${name} failed`));
      if (how === 'never') return new Promise<void>(() => undefined);
      return new Promise<void>((resolve) => {
        setTimeout(() => {
          events.push(`end ${name}`);
          resolve();
        }, how);
      });
    };
  const drainSteps: DrainSteps = {
    setDraining: (notice) => events.push(`draining ${notice.source}`),
    stopApp: (seconds, signal) => {
      events.push(`stop timeout ${seconds}`);
      return step('stop')(signal);
    },
    flushLogs: step('logs'),
    flushAudit: step('audit'),
    completeLifecycleAction: step('complete'),
  };
  return { events, signals, drainSteps };
}

describe('drainOnTermination', () => {
  it('marks draining, stops the app, flushes logs and audit together, completes the hook last', async () => {
    const { events, drainSteps } = steps({ stop: 3_000, logs: 2_000, audit: 1_000, complete: 100 });
    const done = drainOnTermination(drainSteps, { notice: terminated, stopTimeoutSeconds: 30, log });
    await vi.runAllTimersAsync();
    const report = await done;
    expect(events).toEqual([
      'draining autoscaling',
      'stop timeout 30',
      'start stop',
      'end stop',
      'start logs',
      'start audit',
      'end audit',
      'end logs',
      'start complete',
      'end complete',
    ]);
    expect(report.steps).toEqual([
      { step: 'stop-app', outcome: 'done', durationMs: 3_000 },
      { step: 'flush-logs', outcome: 'done', durationMs: 2_000 },
      { step: 'flush-audit', outcome: 'done', durationMs: 1_000 },
      { step: 'complete-lifecycle-action', outcome: 'done', durationMs: 100 },
    ]);
    expect(report.durationMs).toBe(5_100);
  });

  it('gives up on a stuck step at its limit, aborts its signal and goes on', async () => {
    const { events, signals, drainSteps } = steps({ stop: 'never', logs: 'never' });
    const done = drainOnTermination(drainSteps, {
      notice: terminated,
      stopTimeoutSeconds: 10,
      log,
      flushTimeoutMs: 20_000,
    });
    await vi.runAllTimersAsync();
    const report = await done;
    expect(report.steps.map((s) => [s.step, s.outcome, s.durationMs])).toEqual([
      ['stop-app', 'timed-out', 25_000], // stop timeout + 15 s for Docker's SIGKILL and the API
      ['flush-logs', 'timed-out', 20_000],
      ['flush-audit', 'done', 0],
      ['complete-lifecycle-action', 'done', 0],
    ]);
    expect(signals.stop?.aborted).toBe(true);
    expect(signals.logs?.aborted).toBe(true);
    expect(signals.audit?.aborted).toBe(false);
    expect(events.at(-1)).toBe('end complete');
  });

  it('reports a failed step with its code and still runs the rest', async () => {
    const { events, drainSteps } = steps({ audit: 'fail' });
    const done = drainOnTermination(drainSteps, { notice: terminated, stopTimeoutSeconds: 10, log });
    await vi.runAllTimersAsync();
    const report = await done;
    expect(report.steps[2]).toEqual({
      step: 'flush-audit',
      outcome: 'failed',
      durationMs: 0,
      code: 'LOG_SHIP_FAILED',
    });
    expect(events).toContain('end complete');
  });

  it('fits a spot notice: limits end 5 s before EC2 acts, and no hook is completed', async () => {
    const { events, drainSteps } = steps({ stop: 'never', logs: 'never' });
    const notice: TerminationNotice = { source: 'spot', action: 'terminate', time: '2030-01-01T00:01:00Z' };
    const done = drainOnTermination(drainSteps, { notice, stopTimeoutSeconds: 120, log });
    await vi.runAllTimersAsync();
    const report = await done;
    expect(report.steps.map((s) => [s.step, s.outcome, s.durationMs])).toEqual([
      ['stop-app', 'timed-out', 55_000],
      ['flush-logs', 'timed-out', 1_000], // past the deadline every step still gets a second
      ['flush-audit', 'done', 0],
      ['complete-lifecycle-action', 'skipped', 0],
    ]);
    expect(events).not.toContain('start complete');
  });

  it('completes no hook when none is configured or the instance goes to a warm pool', async () => {
    for (const [notice, configured] of [
      [terminated, false],
      [{ source: 'autoscaling', targetState: 'Warmed:Stopped' }, true],
    ] as const) {
      const { events, drainSteps } = steps();
      const done = drainOnTermination(
        configured ? drainSteps : { ...drainSteps, completeLifecycleAction: undefined },
        {
          notice,
          stopTimeoutSeconds: 10,
          log,
        },
      );
      await vi.runAllTimersAsync();
      expect((await done).steps.at(-1)).toEqual({
        step: 'complete-lifecycle-action',
        outcome: 'skipped',
        durationMs: 0,
      });
      expect(events).not.toContain('start complete');
    }
  });
});

describe('terminationNoticeOf', () => {
  it('prefers the spot notice and ignores unknown actions and running states', () => {
    expect(terminationNoticeOf({ action: 'stop', time: 't' }, 'Terminated')).toEqual({
      source: 'spot',
      action: 'stop',
      time: 't',
    });
    expect(terminationNoticeOf({ action: 'reboot', time: 't' }, 'InService')).toBeUndefined();
    expect(terminationNoticeOf(undefined, 'Terminated')).toEqual({
      source: 'autoscaling',
      targetState: 'Terminated',
    });
    expect(terminationNoticeOf(undefined, 'Warmed:Running')).toBeUndefined();
    expect(terminationNoticeOf(undefined, undefined)).toBeUndefined();
  });
});
