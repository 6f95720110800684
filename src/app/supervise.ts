import type { AgentAudit } from '../audit/agent-audit.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { watchApplicationHealth, type HealthMonitorSettings } from '../health/health-monitor.js';
import type { ContainerEvents } from '../docker/container-events.js';
import type { ContainerRuntime } from '../docker/container-runtime.js';
import { readLastSeen } from '../docker/last-seen-file.js';
import type { AgentMetrics } from '../metrics/agent-metrics.js';
import type { AgentState } from '../status/agent-state.js';
import type { ErrorReporter } from '../status/error-reporter.js';
import { containerSpecFor } from './app-container.js';
import type { BootResult, BootSettings } from './boot.js';
import { Supervisor, type SupervisorOutcome } from './supervisor.js';

export interface SuperviseDependencies {
  readonly runtime: ContainerRuntime;
  readonly events: ContainerEvents | undefined;
  readonly settings: BootSettings;
  /** The supervisor's memory across agent restarts; undefined: not kept. */
  readonly lastSeenFile: string | undefined;
  /** The health check after the boot; undefined: DEFAULT_HEALTH_MONITOR_SETTINGS. */
  readonly healthMonitor?: HealthMonitorSettings | undefined;
  readonly metrics: AgentMetrics | undefined;
  readonly audit: AgentAudit | undefined;
  readonly errors: ErrorReporter;
  readonly state: AgentState;
  readonly clock: Clock;
  readonly log: Logger;
}

/** Until the signal, or until `shutdown:` says power off. Maintenance: nothing to supervise. */
export async function supervise(
  result: BootResult,
  deps: SuperviseDependencies,
  signal: AbortSignal,
): Promise<SupervisorOutcome> {
  const application = deps.state.application;
  if (result.container === undefined || application === undefined) {
    deps.log.child({ component: 'agent' }).warn('Maintenance: the app is not started; waiting for shutdown');
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener(
        'abort',
        () => {
          resolve();
        },
        { once: true },
      );
    });
    return undefined;
  }
  const { settings, lastSeenFile } = deps;
  const supervisor = new Supervisor({
    runtime: deps.runtime,
    events: deps.events,
    clock: deps.clock,
    log: deps.log.child({ component: 'supervisor' }),
    state: deps.state,
    containerName: settings.containerName,
    containerId: result.container.id,
    spec: () =>
      containerSpecFor(
        result.config,
        application.configDigest,
        settings,
        result.secrets,
        deps.state.identity,
      ),
    shutdown: result.config.shutdown,
    lastSeen: lastSeenFile === undefined ? undefined : await readLastSeen(lastSeenFile),
    lastSeenFile,
    audit: (type, data) => deps.audit?.record(type, data),
    count: (kind) => deps.metrics?.containerEvents.inc({ kind }),
    recordError: (component, code, message) => {
      deps.errors.reportFailure(component, { code, message });
    },
  });
  // The health check keeps running beside the supervisor (report only, see monitorHealth).
  const stopHealth = new AbortController();
  const monitoring = watchApplicationHealth(
    {
      health: deps.state.health,
      container: () => deps.state.container,
      settings: deps.healthMonitor,
      clock: deps.clock,
      log: deps.log.child({ component: 'health' }),
    },
    AbortSignal.any([signal, stopHealth.signal]),
  );
  try {
    return await supervisor.run(signal);
  } finally {
    stopHealth.abort();
    await monitoring;
  }
}
