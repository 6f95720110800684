import type { AgentState } from './agent-state.js';
import { healthChecks } from './health-checks.js';

/**
 * The JSON GET /status returns, built from non-secret fields only (the server scrubs it once
 * more). Sections that later issues fill in (log shipping, SSH grants) are present and empty,
 * so clients can rely on the shape.
 */
export function statusDocument(state: AgentState, now: number): Record<string, unknown> {
  const container = state.container;
  return {
    agent: {
      ...state.agent,
      node: process.version,
      pid: process.pid,
      // The process's monotonic uptime: a wall clock stepped back (NTP, a VM resumed) must not
      // make it negative, as `now - startedAt` did.
      uptimeSeconds: Math.round(process.uptime()),
      endpoints: state.endpoints,
    },
    instance:
      state.identity === undefined
        ? null
        : {
            instanceId: state.identity.instanceId,
            region: state.identity.region,
            availabilityZone: state.identity.availabilityZone,
            accountId: state.identity.accountId,
            instanceType: state.identity.instanceType ?? null,
            imageId: state.identity.imageId ?? null,
          },
    application:
      state.application === undefined
        ? null
        : { ...state.application, imageDigest: state.imageDigest ?? null },
    config: state.configSummary ?? null,
    boot: {
      state: state.bootState,
      totalMs: state.timeline.totalMs ?? null,
      error: state.bootError ?? null,
      steps: state.timeline.steps,
    },
    container:
      container === undefined
        ? null
        : {
            id: container.id.slice(0, 12),
            name: container.name,
            state: container.state,
            restartCount: container.restartCount,
            exitCode: container.exitCode ?? null,
            oomKilled: container.oomKilled,
            startedAt: container.startedAt ?? null,
            finishedAt: container.finishedAt ?? null,
            dockerHealth: container.health ?? null,
            checkedAt:
              state.containerCheckedAt === undefined
                ? null
                : new Date(state.containerCheckedAt).toISOString(),
            history: state.containerHistory ?? null,
          },
    lifecycle:
      state.lifecycle === undefined
        ? null
        : {
            ...state.lifecycle,
            powerOff: state.lifecycle.powerOff ?? null,
            termination: state.lifecycle.termination ?? null,
          },
    health: state.health.toJSON(),
    checks: healthChecks(state, now),
    logShipping: state.logShipping,
    etcd: etcdSection(state),
    ssh: { grants: state.sshGrants },
    cloudwatch: state.cloudwatch ?? { enabled: false },
    warnings: state.warnings,
    lastErrors: state.errors,
  };
}

/** `etcd` in GET /status: null without `etcd_discovery_domain`; JSON null for unknown values. */
function etcdSection(state: AgentState): Record<string, unknown> | null {
  const etcd = state.etcd;
  if (etcd === undefined) return null;
  const { server, registration } = etcd;
  return {
    domain: etcd.domain,
    server:
      server === null ? null : { ...server, pid: server.pid ?? null, lastError: server.lastError ?? null },
    registration:
      registration === null
        ? null
        : {
            ...registration,
            healthy: registration.healthy ?? null,
            lastBeatAt: registration.lastBeatAt ?? null,
            lastError: registration.lastError ?? null,
          },
  };
}
