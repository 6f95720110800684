import type { AgentState } from './agent-state.js';

/**
 * The supervisor inspects the container every 5 s; three missed rounds mean Docker (or the
 * supervisor) is stuck, and the agent is impaired even if the container still runs.
 */
export const CONTAINER_CHECK_STALE_MS = 20_000;

/**
 * A log destination failing this long is an impairment, not a blip: the delivery retries back off
 * to 30 s, so ten failed attempts and more; the spool holds the records meanwhile (about an hour
 * of a busy app, see log-spool.ts), and an operator has that long to act before they are dropped.
 */
export const LOG_DESTINATION_FAILING_MS = 5 * 60_000;

export interface HealthCheckResult {
  readonly name: 'boot' | 'container' | 'supervisor' | 'health' | 'logs';
  readonly ok: boolean;
  readonly detail: string;
}

/** What GET /healthz judges: the agent is impaired when any of these fails. */
export function healthChecks(state: AgentState, now: number): HealthCheckResult[] {
  const checks: HealthCheckResult[] = [];
  if (state.bootState === 'failed') {
    checks.push({ name: 'boot', ok: false, detail: `boot failed: ${state.bootError?.code ?? 'unknown'}` });
    return checks;
  }
  checks.push({ name: 'boot', ok: true, detail: state.bootState });
  if (state.bootState !== 'succeeded') return checks;
  // Before the app checks: the logs matter in maintenance too.
  const stuck = state.logShipping.destinations.filter(
    (d) => d.failing && d.lagSeconds * 1000 >= LOG_DESTINATION_FAILING_MS,
  );
  if (stuck.length > 0) {
    checks.push({
      name: 'logs',
      ok: false,
      detail: stuck
        .map(
          (d) =>
            `log destination ${d.destination} failing for ${Math.round(d.lagSeconds)} s: ${d.lastError ?? ''}`,
        )
        .join('; '),
    });
  }
  if (state.lifecycle?.maintenance === true) {
    checks.push({ name: 'container', ok: true, detail: 'maintenance: the app is not started' });
    return checks;
  }
  const container = state.container;
  const crashLoop = state.containerHistory?.crashLoop;
  checks.push(
    crashLoop !== undefined
      ? {
          name: 'container',
          ok: false,
          detail: `container crash-looping: ${crashLoop.restarts} restarts within ${crashLoop.windowSeconds / 60} minutes`,
        }
      : container?.state === 'running'
        ? { name: 'container', ok: true, detail: 'running' }
        : {
            name: 'container',
            ok: false,
            detail: `container ${container?.state ?? 'missing'}${container?.exitCode === undefined ? '' : `, exit code ${container.exitCode}`}${container?.oomKilled === true ? ', OOM-killed' : ''}`,
          },
  );
  const checkedAt = state.containerCheckedAt;
  if (checkedAt !== undefined) {
    const age = now - checkedAt;
    checks.push(
      age <= CONTAINER_CHECK_STALE_MS
        ? { name: 'supervisor', ok: true, detail: `container inspected ${Math.round(age / 1000)} s ago` }
        : {
            name: 'supervisor',
            ok: false,
            detail: `container not inspected for ${Math.round(age / 1000)} s (Docker not answering?)`,
          },
    );
  }
  const health = state.health;
  if (health.status === 'failing') {
    const since = health.since === undefined ? '' : ` since ${new Date(health.since).toISOString()}`;
    const what = health.url ?? 'Docker HEALTHCHECK';
    checks.push({
      name: 'health',
      ok: false,
      detail: `health check ${what} failing${since} (last: ${health.lastResult?.detail ?? 'no answer'})`,
    });
  }
  return checks;
}
