import type { AgentAudit } from '../audit/agent-audit.js';
import type { Clock } from '../core/clock.js';
import { toTaupageError } from '../core/errors.js';
import { ExitCode, TERMINAL_EXIT_CODES } from '../core/exit-codes.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import type { ContainerEvents } from '../docker/container-events.js';
import type { ContainerStats } from '../docker/container-stats.js';
import type { HealthMonitorSettings } from '../health/health-monitor.js';
import type { HostPower } from '../lifecycle/host-power.js';
import { stopAppOnShutdown } from '../lifecycle/stop-app-on-shutdown.js';
import type { AgentMetrics } from '../metrics/agent-metrics.js';
import type { OperatorSurface } from '../metrics/operator-surface.js';
import { VERSION } from '../version.js';
import { AgentEndpoints } from './agent-endpoints.js';
import { AgentServices, type AgentServicesDependencies } from './agent-services.js';
import {
  boot,
  bootSummary,
  DEFAULT_STOP_TIMEOUT_SECONDS,
  stopTimeoutSeconds,
  type BootDependencies,
  type BootResult,
} from './boot.js';
import { runShutdown, shutdownBudgets, shutdownDeadlineMs } from './shutdown.js';
import { supervise } from './supervise.js';
import type { SupervisorOutcome } from './supervisor.js';
import type { StatusEndpoint } from './status-endpoint.js';

/** systemctl poweroff only queues a job: a few seconds at most. */
const POWER_OFF_TIMEOUT_MS = 10_000;

/**
 * The adapters that pull in big libraries (dockerode, the AWS SDK): they load after the status
 * endpoint is up, alongside the boot's first steps (imds, config), and the boot waits for them
 * only where it first calls one (see deferredAdapters).
 */
export type HeavyAdapters = Pick<BootDependencies, 'runtime' | 'secretDecrypter'> & {
  readonly containerStats?: ContainerStats;
  /** Docker's event stream; undefined: the supervisor only re-inspects. */
  readonly containerEvents?: ContainerEvents;
};

export interface AgentDependencies
  extends
    Omit<BootDependencies, keyof HeavyAdapters>,
    Omit<AgentServicesDependencies, 'audit' | 'state' | 'redactor' | 'clock' | 'log'> {
  /** The heavy adapters, instrumented with the agent's metrics when /metrics is up. */
  readonly loadAdapters: (metrics: AgentMetrics | undefined) => Promise<HeavyAdapters>;
  readonly statusListen: { readonly host: string; readonly port: number };
  /** The status endpoint, when it was opened before the composition (cli/status-first.ts). */
  readonly statusEndpoint?: StatusEndpoint | undefined;
  /** Stop and remove the container on exit (local mode). */
  readonly removeContainerOnExit: boolean;
  readonly processStartedAt: number;
  /** Prometheus /metrics and CloudWatch (loaded after the status endpoint is up). */
  readonly loadOperator?: () => Promise<OperatorSurface>;
  /** The audit trail, its shipping and the SSH grant expiry; undefined: off. */
  readonly audit?: AgentAudit;
  readonly redactor: Redactor;
  /** Power-off for `shutdown:`, and "is the host shutting down?" on SIGTERM. */
  readonly hostPower: HostPower;
  /** The health check after the boot; undefined: DEFAULT_HEALTH_MONITOR_SETTINGS. */
  readonly healthMonitor?: HealthMonitorSettings;
  /** The supervisor's memory across agent restarts; undefined: not kept. */
  readonly lastSeenFile: string | undefined;
}

type Booted =
  { readonly result: BootResult; readonly adapters: HeavyAdapters } | { readonly exitCode: ExitCode };

/**
 * The daemon: status endpoint → boot → supervise → shutdown. It never exits the process and
 * never listens for signals: the command does (cli/run-agent.ts) and aborts `run`'s signal.
 */
export class Agent {
  readonly #deps: AgentDependencies;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #endpoints: AgentEndpoints;
  readonly #services: AgentServices;
  #adapters: HeavyAdapters | undefined;
  #stopTimeoutSeconds = DEFAULT_STOP_TIMEOUT_SECONDS;

  constructor(deps: AgentDependencies) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'agent' });
    this.#clock = deps.clock;
    this.#endpoints = new AgentEndpoints(deps);
    this.#services = new AgentServices(deps);
  }

  /** Why the boot failed, when it did: code and one-line message (no secrets). */
  get failure(): { code: string; message: string } | undefined {
    return this.#deps.state.bootError;
  }

  /** How long the command lets the shutdown take: longer when the app gets `docker.stop_timeout` first. */
  get shutdownDeadlineMs(): number {
    return shutdownDeadlineMs(this.#stopTimeoutSeconds);
  }

  async run(signal: AbortSignal): Promise<ExitCode> {
    // The command's deadline (cli/run-agent.ts) runs from the signal; so does the shutdown's.
    let stopRequestedAt: number | undefined;
    signal.addEventListener('abort', () => (stopRequestedAt = this.#clock.now()), { once: true });
    if (!(await this.#endpoints.openStatus())) return ExitCode.Failure;
    // /metrics (prom-client) and then the heavy adapters load while the boot's first steps wait
    // for IMDS and write the config: not in front of them (issue 16, the boot's critical path).
    const operatorLoading = this.#endpoints.openMetrics();
    this.#deps.audit?.start(signal);
    this.#deps.audit?.record('agent.boot', { version: VERSION.version, commit: VERSION.commit });

    const booted = await this.#boot(operatorLoading, signal);
    const operator = await operatorLoading;
    let exitCode = 'exitCode' in booted ? booted.exitCode : ExitCode.Ok;
    let outcome: SupervisorOutcome;
    if ('result' in booted) {
      outcome = await supervise(
        booted.result,
        {
          ...this.#deps,
          runtime: booted.adapters.runtime,
          events: booted.adapters.containerEvents,
          metrics: operator?.agentMetrics,
          audit: this.#deps.audit,
        },
        signal,
      );
    }
    if (outcome !== undefined) this.#poweringOff(outcome.powerOff);
    await this.#shutdown(outcome !== undefined, stopRequestedAt ?? this.#clock.now());
    if (outcome !== undefined) exitCode = await this.#powerOff(outcome.powerOff);
    return exitCode;
  }

  /** The boot and what follows a good one; a failed boot becomes the exit code, a terminal one is signalled (FAILURE). */
  async #boot(operatorLoading: Promise<OperatorSurface | undefined>, signal: AbortSignal): Promise<Booted> {
    const { state } = this.#deps;
    const adaptersLoading = operatorLoading.then(async (operator) => {
      const adapters = await this.#deps.loadAdapters(operator?.agentMetrics);
      this.#adapters = adapters;
      operator?.onAdapters(adapters);
      return adapters;
    });
    // A failure to load surfaces where the boot first needs an adapter (kms, pull), or below.
    adaptersLoading.catch(() => undefined);
    try {
      const hooks = this.#services.bootHooks(this.#deps.hooks);
      const result = await boot({ ...this.#deps, ...deferredAdapters(adaptersLoading), hooks }, signal);
      const adapters = await adaptersLoading;
      const operator = await operatorLoading;
      // The boot is done here; what follows (signals, log shipping, background tasks) is not part of it.
      const timeline = state.timeline;
      this.#log.info(
        {
          totalMs: timeline.totalMs,
          steps: Object.fromEntries(timeline.steps.map((step) => [step.name, step.durationMs ?? null])),
        },
        bootSummary(timeline.totalMs, timeline.summary()),
      );
      this.#stopTimeoutSeconds = stopTimeoutSeconds(result.config);
      state.bootSucceeded(result.config);
      await this.#services.afterBoot(result, adapters, operator, signal);
      return { result, adapters };
    } catch (error) {
      if (signal.aborted) {
        this.#log.info('Boot interrupted by shutdown');
        return { exitCode: ExitCode.Ok };
      }
      const failure = toTaupageError(error);
      state.bootFailed({ code: failure.code, message: this.#deps.redactor.scrub(failure.message) });
      this.#deps.errors.reportFailure('boot', failure);
      this.#log.error(
        { code: failure.code, exitCode: failure.exitCode, err: failure.cause ?? failure },
        `Boot failed: ${failure.message}`,
      );
      // Only a terminal failure is the instance's outcome: after a transient one (exit 1, 4)
      // systemd starts the agent again and that boot signals (CloudFormation takes one signal).
      if (TERMINAL_EXIT_CODES.includes(failure.exitCode))
        await this.#services.signalCloudFormation('FAILURE');
      return { exitCode: failure.exitCode };
    }
  }

  #poweringOff(reason: string): void {
    const { state } = this.#deps;
    state.poweringOff(reason, new Date(this.#clock.now()).toISOString());
    this.#log.warn({ reason }, `Powering the instance off: ${reason}`);
  }

  /** After the shutdown flushed logs and the audit trail: the last thing the agent does. */
  async #powerOff(reason: string): Promise<ExitCode> {
    try {
      await this.#deps.hostPower.powerOff(reason, AbortSignal.timeout(POWER_OFF_TIMEOUT_MS));
      this.#log.info('Power-off requested');
      return ExitCode.Ok;
    } catch (error) {
      const failure = toTaupageError(error);
      this.#deps.state.powerOffFailed(failure.message);
      this.#log.error({ err: error }, `Could not power the instance off: ${failure.message}`);
      return ExitCode.Failure;
    }
  }

  /**
   * Ordered and time-boxed (SHUTDOWN_STAGES): the app container first, the status endpoint and
   * the audit trail last. The app is left running when only the agent stops (an agent restart
   * adopts it); it gets a graceful `docker stop` with `docker.stop_timeout` when the host is
   * shutting down, and is stopped and removed in local mode.
   */
  async #shutdown(poweringOff: boolean, requestedAt: number): Promise<void> {
    this.#log.info('Shutting down');
    const { audit } = this.#deps;
    await runShutdown(
      {
        ...this.#services.shutdownWork(),
        app: () =>
          stopAppOnShutdown({
            container: this.#deps.state.container,
            runtime: this.#adapters?.runtime,
            hostPower: this.#deps.hostPower,
            remove: this.#deps.removeContainerOnExit,
            poweringOff,
            stopTimeoutSeconds: this.#stopTimeoutSeconds,
            clock: this.#clock,
            log: this.#log,
          }),
        ...this.#endpoints.shutdownWork(),
        audit: async () => {
          audit?.record('agent.stop', {});
          await audit?.stop();
        },
      },
      shutdownBudgets(this.#stopTimeoutSeconds),
      { clock: this.#clock, log: this.#log, endsAt: requestedAt + this.shutdownDeadlineMs },
    );
    this.#log.info('Stopped');
  }
}

/**
 * The boot's view of adapters still loading: each call waits for them, so the steps before the
 * first call (imds, config) run meanwhile.
 */
function deferredAdapters(
  loading: Promise<HeavyAdapters>,
): Pick<BootDependencies, 'runtime' | 'secretDecrypter'> {
  const runtime = async () => (await loading).runtime;
  return {
    runtime: {
      imageExists: async (image, signal) => (await runtime()).imageExists(image, signal),
      pullImage: async (image, options) => (await runtime()).pullImage(image, options),
      findContainer: async (name, signal) => (await runtime()).findContainer(name, signal),
      createContainer: async (spec, signal) => (await runtime()).createContainer(spec, signal),
      startContainer: async (id, signal) => (await runtime()).startContainer(id, signal),
      inspectContainer: async (id, signal) => (await runtime()).inspectContainer(id, signal),
      stopContainer: async (id, timeoutSeconds, signal) =>
        (await runtime()).stopContainer(id, timeoutSeconds, signal),
      removeContainer: async (id, signal) => (await runtime()).removeContainer(id, signal),
    },
    secretDecrypter: (identity) => ({
      decrypt: async (ciphertext, signal, context) =>
        (await loading).secretDecrypter(identity).decrypt(ciphertext, signal, context),
    }),
  };
}
