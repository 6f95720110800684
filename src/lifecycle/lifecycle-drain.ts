import { systemClock, type Clock } from '../core/clock.js';
import { TaupageError, toTaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { TerminationNotice } from './lifecycle-watcher.js';

/** The drain's steps, supplied by the agent (function parameters, so the drain knows no components). */
export interface DrainSteps {
  /** Status shows `draining` (and the notice) from here on. Synchronous: it cannot fail slowly. */
  readonly setDraining: (notice: TerminationNotice) => void;
  /** `docker stop` with the app's stop timeout (SIGTERM, then SIGKILL after it). */
  readonly stopApp: (stopTimeoutSeconds: number, signal: AbortSignal) => Promise<void>;
  /** Ships what the log pipeline still holds (the app's last lines included). */
  readonly flushLogs: (signal: AbortSignal) => Promise<void>;
  /** Ships the rest of the audit trail. */
  readonly flushAudit: (signal: AbortSignal) => Promise<void>;
  /** CompleteLifecycleAction (CONTINUE); undefined when no `lifecycle_hook` is configured. */
  readonly completeLifecycleAction?: ((signal: AbortSignal) => Promise<void>) | undefined;
}

export interface DrainOptions {
  readonly notice: TerminationNotice;
  /** `docker.stop_timeout`, else Docker's default of 10 s. */
  readonly stopTimeoutSeconds: number;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly flushTimeoutMs?: number;
  readonly completeTimeoutMs?: number;
}

export type DrainOutcome = 'done' | 'failed' | 'timed-out' | 'skipped';

export interface DrainStepReport {
  readonly step: 'stop-app' | 'flush-logs' | 'flush-audit' | 'complete-lifecycle-action';
  readonly outcome: DrainOutcome;
  readonly durationMs: number;
  readonly code?: string;
}

export interface DrainReport {
  readonly steps: readonly DrainStepReport[];
  readonly durationMs: number;
}

/** Beyond the stop timeout: Docker's SIGKILL, the container's exit and the API round trips. */
const STOP_GRACE_MS = 15_000;
/** Fluent Bit gives FireLens 120 s; a spot notice has 120 s for everything, so flushes get 30 s each, in parallel. */
const FLUSH_TIMEOUT_MS = 30_000;
const COMPLETE_TIMEOUT_MS = 15_000;
/** Finish this long before a spot notice's time: EC2 acts at that time, not after it. */
const SPOT_MARGIN_MS = 5_000;
/** A step always gets at least this much, even past the spot deadline: trying costs nothing then. */
const MIN_STEP_MS = 1_000;

/**
 * The termination drain, in order: mark draining; stop the app gracefully (its stop timeout);
 * flush the logs and the audit trail (in parallel: both only read what is already written); and
 * last — because it lets the group terminate the instance at once — complete the ASG's
 * termination lifecycle action, only for an Auto Scaling `Terminated` notice with a hook
 * configured. Every step has a time limit (cut to a spot notice's deadline); a failed or timed-out
 * step is logged and the next one still runs. Never throws.
 */
export async function drainOnTermination(steps: DrainSteps, options: DrainOptions): Promise<DrainReport> {
  const clock = options.clock ?? systemClock;
  const { notice, log } = options;
  const started = clock.now();
  const deadline = notice.source === 'spot' ? Date.parse(notice.time) - SPOT_MARGIN_MS : Number.NaN;
  const limit = (ms: number): number =>
    Number.isNaN(deadline) ? ms : Math.max(MIN_STEP_MS, Math.min(ms, deadline - clock.now()));

  steps.setDraining(notice);
  log.warn({ notice }, 'Draining: stopping the app, flushing logs and the audit trail');

  const reports: DrainStepReport[] = [];
  reports.push(
    await timed('stop-app', limit(options.stopTimeoutSeconds * 1000 + STOP_GRACE_MS), clock, log, (signal) =>
      steps.stopApp(options.stopTimeoutSeconds, signal),
    ),
  );
  const flushMs = limit(options.flushTimeoutMs ?? FLUSH_TIMEOUT_MS);
  reports.push(
    ...(await Promise.all([
      timed('flush-logs', flushMs, clock, log, steps.flushLogs),
      timed('flush-audit', flushMs, clock, log, steps.flushAudit),
    ])),
  );
  const complete = steps.completeLifecycleAction;
  if (complete !== undefined && notice.source === 'autoscaling' && notice.targetState === 'Terminated') {
    reports.push(
      await timed(
        'complete-lifecycle-action',
        limit(options.completeTimeoutMs ?? COMPLETE_TIMEOUT_MS),
        clock,
        log,
        complete,
      ),
    );
  } else {
    reports.push({ step: 'complete-lifecycle-action', outcome: 'skipped', durationMs: 0 });
  }
  const report = { steps: reports, durationMs: clock.now() - started };
  log.info({ steps: reports, durationMs: report.durationMs }, 'Drained');
  return report;
}

/** Runs one step with a deadline; the step's signal is aborted when the deadline passes. */
async function timed(
  step: DrainStepReport['step'],
  limitMs: number,
  clock: Clock,
  log: Logger,
  run: (signal: AbortSignal) => Promise<void>,
): Promise<DrainStepReport> {
  const started = clock.now();
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<'timed-out'>((resolve) => {
    // Global setTimeout on purpose: vitest's fake timers replace it.
    timer = setTimeout(() => {
      controller.abort(new TaupageError('INTERNAL', `Drain step ${step} timed out after ${limitMs} ms`));
      resolve('timed-out');
    }, limitMs);
  });
  try {
    const outcome = await Promise.race([run(controller.signal).then(() => 'done' as const), timedOut]);
    if (outcome === 'timed-out') log.warn({ step, limitMs }, 'Drain step timed out');
    return { step, outcome, durationMs: clock.now() - started };
  } catch (error) {
    const failure = toTaupageError(error);
    log.warn({ step, code: failure.code, reason: failure.message }, 'Drain step failed');
    return { step, outcome: 'failed', durationMs: clock.now() - started, code: failure.code };
  } finally {
    clearTimeout(timer);
  }
}
