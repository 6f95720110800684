import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

/**
 * The agent's own deadline for its shutdown, not counting the app's `docker.stop_timeout`: after
 * SIGTERM the process exits at `shutdownDeadlineMs(stop timeout)` whatever is still running. With
 * Docker's default stop timeout (10 s) that is 40 s, inside systemd's `TimeoutStopSec=45s`
 * (systemd/taupage.service), so systemd's SIGKILL is never what ends a normal shutdown;
 * test/unit/app/shutdown.test.ts holds the two together.
 */
export const SHUTDOWN_DEADLINE_MS = 30_000;

/** The whole shutdown: longer when the app gets `docker.stop_timeout` first (host shutdown, local mode). */
export function shutdownDeadlineMs(stopTimeoutSeconds: number): number {
  return SHUTDOWN_DEADLINE_MS + stopTimeoutSeconds * 1000;
}

/**
 * The shutdown, in the order it runs, like BOOT_STEPS: the app container first (its last lines
 * go into the spool), then the logs, then the endpoints, the audit trail last (it records the
 * shutdown itself). Each stage is cut at its budget; a stage that fails or is cut is logged and
 * the next one still runs.
 */
export const SHUTDOWN_STAGES = [
  {
    name: 'background',
    description:
      'Stop the etcd heartbeat, CloudWatch publishing, the credentials refresh and the termination watcher',
  },
  { name: 'app', description: 'Stop the app container when the host shuts down (removed in local mode)' },
  {
    name: 'logs',
    description:
      'Flush log shipping (the app’s last lines included); stop the local etcd (etcd_discovery_domain)',
  },
  { name: 'metrics-endpoint', description: 'Close the Prometheus /metrics endpoint' },
  { name: 'status-endpoint', description: 'Close the status endpoint' },
  { name: 'audit', description: 'Record agent.stop and ship the rest of the audit trail' },
] as const;

export type ShutdownStageName = (typeof SHUTDOWN_STAGES)[number]['name'];

/** The log pipeline's own flush deadline (it bounds itself); the `logs` stage's budget adds the wait for it to start. */
export const LOG_FLUSH_DEADLINE_MS = 20_000;
/** Closing a server: its open connections end within this; a hung one is cut. */
const ENDPOINT_CLOSE_BUDGET_MS = 10_000;
/** Asking systemd whether the host stops, plus Docker's answer after the app's stop timeout. */
const APP_STOP_MARGIN_MS = 20_000;
/** The audit trail bounds its own flush (AUDIT_FLUSH_TIMEOUT_MS); this is the outer cut. */
const AUDIT_BUDGET_MS = 15_000;

/** Each stage's budget: the app's depends on its `docker.stop_timeout`. */
export function shutdownBudgets(stopTimeoutSeconds: number): Readonly<Record<ShutdownStageName, number>> {
  return {
    background: 1_000,
    app: stopTimeoutSeconds * 1000 + APP_STOP_MARGIN_MS,
    logs: LOG_FLUSH_DEADLINE_MS + 5_000,
    'metrics-endpoint': ENDPOINT_CLOSE_BUDGET_MS,
    'status-endpoint': ENDPOINT_CLOSE_BUDGET_MS,
    audit: AUDIT_BUDGET_MS,
  };
}

export type ShutdownOutcome = 'done' | 'failed' | 'cut';

export interface ShutdownStageReport {
  readonly stage: ShutdownStageName;
  readonly outcome: ShutdownOutcome;
  readonly durationMs: number;
}

/** What each stage does; a stage left out does nothing here (e.g. no metrics endpoint). */
export type ShutdownWork = Partial<Record<ShutdownStageName, () => Promise<void> | void>>;

/**
 * Runs the stages in SHUTDOWN_STAGES order, each cut at its budget or at `endsAt` (the whole
 * deadline, clock time), whichever comes first: the stages after a slow one get what is left,
 * never more. Never throws.
 */
export async function runShutdown(
  work: ShutdownWork,
  budgets: Readonly<Record<ShutdownStageName, number>>,
  deps: { readonly clock: Clock; readonly log: Logger; readonly endsAt: number },
): Promise<readonly ShutdownStageReport[]> {
  const reports: ShutdownStageReport[] = [];
  for (const { name } of SHUTDOWN_STAGES) {
    const stage = work[name];
    if (stage === undefined) continue;
    const startedAt = deps.clock.now();
    const budgetMs = Math.max(0, Math.min(budgets[name], deps.endsAt - startedAt));
    const outcome = await withinBudget(stage, budgetMs, deps.clock).catch((error: unknown) => {
      deps.log.warn({ err: error, stage: name }, `Shutdown stage ${name} failed`);
      return 'failed' as const;
    });
    if (outcome === 'cut')
      deps.log.warn({ stage: name, budgetMs }, `Shutdown stage ${name} cut at its budget`);
    reports.push({ stage: name, outcome, durationMs: deps.clock.now() - startedAt });
  }
  return reports;
}

async function withinBudget(
  stage: () => Promise<void> | void,
  budgetMs: number,
  clock: Clock,
): Promise<'done' | 'cut'> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      Promise.resolve(stage()).then(() => 'done' as const),
      clock.sleep(budgetMs, timer.signal).then(() => 'cut' as const),
    ]);
  } finally {
    timer.abort();
  }
}
