import type { AgentState } from './agent-state.js';

/**
 * The supervisor inspects the container every 5 s; three missed rounds mean Docker (or the
 * supervisor) is stuck, and the agent is impaired even if the container still runs.
 */
export const CONTAINER_CHECK_STALE_MS = 20_000;

export interface HealthCheckResult {
  readonly name: 'boot' | 'container' | 'supervisor' | 'health';
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
  if (state.health.status === 'failing')
    checks.push({ name: 'health', ok: false, detail: `health check failing: ${state.health.url ?? ''}` });
  return checks;
}
