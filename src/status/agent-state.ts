import type { BootTimeline } from './boot-timeline.js';
import type { ContainerInfo } from '../docker/container-runtime.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';

export type BootState = 'booting' | 'succeeded' | 'failed';

export interface ApplicationSummary {
  readonly id: string | undefined;
  readonly version: string | undefined;
  readonly image: string;
  readonly configDigest: string;
}

export interface HealthSummary {
  /** passing/failing: our HTTP check; none: no health_check_path configured. */
  status: 'unknown' | 'passing' | 'failing' | 'none';
  url: string | undefined;
  lastCheckedAt: string | undefined;
}

/** The agent's mutable view of the world; the status endpoint serialises a snapshot of it. */
export class AgentState {
  bootState: BootState = 'booting';
  bootError: { code: string; message: string } | undefined;
  identity: InstanceIdentity | undefined;
  application: ApplicationSummary | undefined;
  container: ContainerInfo | undefined;
  health: HealthSummary = { status: 'unknown', url: undefined, lastCheckedAt: undefined };
  warnings: string[] = [];

  constructor(
    readonly timeline: BootTimeline,
    readonly agent: { version: string; commit: string; mode: 'ec2' | 'local'; startedAt: string },
  ) {}
}

/** The JSON the status endpoint returns. Built from non-secret fields only. */
export function statusDocument(state: AgentState, now: number): Record<string, unknown> {
  const container = state.container;
  return {
    agent: {
      ...state.agent,
      pid: process.pid,
      uptimeSeconds: Math.round((now - Date.parse(state.agent.startedAt)) / 1000),
    },
    instance:
      state.identity === undefined
        ? null
        : {
            instanceId: state.identity.instanceId,
            region: state.identity.region,
            availabilityZone: state.identity.availabilityZone,
            accountId: state.identity.accountId,
          },
    application: state.application ?? null,
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
            dockerHealth: container.health ?? null,
          },
    health: state.health,
    warnings: state.warnings,
  };
}
