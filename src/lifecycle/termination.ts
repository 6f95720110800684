import type { AgentAudit } from '../audit/agent-audit.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { ContainerRuntime } from '../docker/container-runtime.js';
import { drainOnTermination, type DrainReport } from './lifecycle-drain.js';
import type { TerminationNotice } from './lifecycle-watcher.js';
import type { LogPipeline } from '../logs/log-pipeline.js';
import type { AgentState } from '../status/agent-state.js';

/** The log pipeline's own flush deadline: inside the drain's 30 s for the step. */
const LOG_FLUSH_DEADLINE_MS = 25_000;

/** What the agent hands the drain when IMDS announces the instance's end. */
export interface TerminationContext {
  readonly state: AgentState;
  readonly runtime: ContainerRuntime | undefined;
  readonly stopTimeoutSeconds: number;
  readonly logShipping: Pick<LogPipeline, 'stop'> | undefined;
  readonly audit: AgentAudit | undefined;
  /** CompleteLifecycleAction for `lifecycle_hook`; undefined when none is configured. */
  readonly completeLifecycleAction: ((signal: AbortSignal) => Promise<void>) | undefined;
  readonly clock: Clock;
  readonly log: Logger;
}

/** One line for status and logs: `spot terminate at 2026-…` / `autoscaling Terminated`. */
export function describeNotice(notice: TerminationNotice): string {
  return notice.source === 'spot'
    ? `spot ${notice.action} at ${notice.time}`
    : `autoscaling target state ${notice.targetState}`;
}

/**
 * The instance is going away (a spot interruption gives two minutes): stop the app with its
 * `docker.stop_timeout` so it can finish requests, ship its last lines and the audit trail, and
 * only then tell Auto Scaling to go on. The agent itself keeps serving /status (draining) until
 * systemd stops it. Never throws: each step's outcome is in /status.
 */
export async function drainForTermination(
  notice: TerminationNotice,
  context: TerminationContext,
): Promise<DrainReport> {
  const { state, runtime, log } = context;
  const report = await drainOnTermination(
    {
      setDraining: () => {
        state.drainStarted(describeNotice(notice), new Date(context.clock.now()).toISOString());
      },
      stopApp: async (seconds, signal) => {
        const container = state.container;
        if (container === undefined || runtime === undefined) return;
        await runtime.stopContainer(container.id, seconds, signal);
        state.containerObserved((await runtime.inspectContainer(container.id, signal)) ?? container);
      },
      // The pipeline's stop drains the spool (the app's last lines included) within the deadline.
      flushLogs: async (signal) => {
        if (context.logShipping === undefined) return;
        if (signal.aborted) return;
        await context.logShipping.stop(LOG_FLUSH_DEADLINE_MS);
      },
      flushAudit: async (signal) => {
        if (context.audit === undefined) return;
        await context.audit.flush(signal);
      },
      completeLifecycleAction: context.completeLifecycleAction,
    },
    { notice, stopTimeoutSeconds: context.stopTimeoutSeconds, log, clock: context.clock },
  );
  state.drainFinished(report.steps.map(({ step, outcome, durationMs }) => ({ step, outcome, durationMs })));
  return report;
}
