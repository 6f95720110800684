import type { TaupageConfig } from '../config/taupage-config.js';
import type { LogPipeline } from '../logs/log-pipeline.js';
import { logPipelineState } from './compose-logs.js';
import { signalBootResult } from '../cloudformation/signal-boot-result.js';
import type { SignalStatus, StackSignaller } from '../cloudformation/stack-signaller.js';
import type { Server } from 'node:http';
import type { AgentAudit } from '../audit/agent-audit.js';
import type { Clock } from '../core/clock.js';
import { toTaupageError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import type { ContainerEvents } from '../docker/container-events.js';
import type { ContainerRuntime } from '../docker/container-runtime.js';
import { buildContainerSpec } from '../docker/container-spec.js';
import { readLastSeen } from '../docker/last-seen-file.js';
import type { HostPower } from '../lifecycle/host-power.js';
import { stopAppOnShutdown } from '../lifecycle/stop-app-on-shutdown.js';
import type { ContainerStats } from '../docker/container-stats.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { AgentMetrics } from '../metrics/agent-metrics.js';
import type { EnhancedCloudWatchMetrics } from '../metrics/enhanced-cloudwatch-metrics.js';
import { createMetricsServer } from '../metrics/metrics-server.js';
import type { OperatorSurface } from '../metrics/operator-surface.js';
import type { AgentState } from '../status/agent-state.js';
import type { ErrorReporter } from '../status/error-reporter.js';
import { summarizeConfig } from '../status/config-summary.js';
import { healthChecks } from '../status/health-checks.js';
import { statusDocument } from '../status/status-document.js';
import { baseUrl, close, createStatusServer, listen } from '../status/status-server.js';
import { VERSION } from '../version.js';
import {
  boot,
  bootSummary,
  DEFAULT_STOP_TIMEOUT_SECONDS,
  stopTimeoutSeconds,
  type BootDependencies,
  type BootHooks,
  type BootResult,
} from './boot.js';
import { LOG_FLUSH_DEADLINE_MS, runShutdown, shutdownBudgets, shutdownDeadlineMs } from './shutdown.js';
import { Supervisor, type SupervisorOutcome } from './supervisor.js';
import { drainForTermination } from './termination.js';
import type { TerminationNotice } from '../host/lifecycle-watcher.js';
import { watchApplicationHealth, type HealthMonitorSettings } from '../health/health-monitor.js';

/** systemctl poweroff only queues a job: a few seconds at most. */
const POWER_OFF_TIMEOUT_MS = 10_000;

/** The adapters that pull in big libraries (dockerode, the AWS SDK), loaded after the status endpoint is up. */
export type HeavyAdapters = Pick<
  BootDependencies,
  'runtime' | 'secretDecrypter' | 'registries' | 'loadBalancerHealth'
> & {
  readonly containerStats?: ContainerStats;
  /** Docker's event stream; undefined: the supervisor only re-inspects. */
  readonly containerEvents?: ContainerEvents;
};

export interface AgentDependencies extends Omit<BootDependencies, keyof HeavyAdapters> {
  /** The heavy adapters, instrumented with the agent's metrics when /metrics is up. */
  readonly loadAdapters: (metrics: AgentMetrics | undefined) => Promise<HeavyAdapters>;
  readonly redactor: Redactor;
  /** Records an error once: scrubbed, counted, audited, in GET /status lastErrors. */
  readonly errors: ErrorReporter;
  readonly statusListen: { readonly host: string; readonly port: number };
  /** Local mode: remove the container on exit. */
  readonly removeContainerOnExit: boolean;
  readonly processStartedAt: number;
  /** Prometheus /metrics and CloudWatch (loaded after the status endpoint is up). */
  readonly loadOperator?: () => Promise<OperatorSurface>;
  /** The audit trail, its shipping and the SSH grant expiry (issue 7); undefined: off. */
  readonly audit?: AgentAudit;
  /** CloudFormation for notify_cfn; undefined in local mode. Loaded on first use (AWS SDK). */
  readonly createStackSignaller: ((identity: InstanceIdentity) => Promise<StackSignaller>) | undefined;
  /** Ships `cloudwatch_logs` after the boot; undefined in local mode (no AWS there). */
  readonly startLogShipping:
    ((config: TaupageConfig, identity: InstanceIdentity) => Promise<LogPipeline | undefined>) | undefined;
  /** Power-off for `shutdown:`, and "is the host shutting down?" on SIGTERM. */
  readonly hostPower: HostPower;
  /** The health check after the boot; undefined: DEFAULT_HEALTH_MONITOR_SETTINGS. */
  readonly healthMonitor?: HealthMonitorSettings;
  /** The supervisor's memory across agent restarts; undefined: not kept. */
  readonly lastSeenFile: string | undefined;
  /** After the boot: credentials refresh and the spot/Auto Scaling termination watcher. */
  readonly hostLifecycle?: {
    start(onTermination: (notice: TerminationNotice) => void): Promise<void>;
    stop(): void;
  };
  /** CompleteLifecycleAction for `lifecycle_hook` (EC2 mode); undefined: no hook to complete. */
  readonly lifecycleAction?:
    | ((
        config: TaupageConfig,
        identity: InstanceIdentity,
      ) => ((signal: AbortSignal) => Promise<void>) | undefined)
    | undefined;
}

/** The daemon: status endpoint up first, then the boot, then supervision until the signal. */
export class Agent {
  readonly #deps: AgentDependencies;
  readonly #log: Logger;
  readonly #state: AgentState;
  readonly #clock: Clock;
  #server: Server | undefined;
  #logShipping: LogPipeline | undefined;
  /** Log shipping being started (alongside the boot's later steps, not in their way). */
  #logShippingStarting: Promise<void> | undefined;
  #metricsServer: Server | undefined;
  #cloudwatch: EnhancedCloudWatchMetrics | undefined;
  #runtime: ContainerRuntime | undefined;
  #containerStats: ContainerStats | undefined;
  #containerEvents: ContainerEvents | undefined;
  #operator: OperatorSurface | undefined;
  #config: TaupageConfig | undefined;

  constructor(deps: AgentDependencies) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'agent' });
    this.#state = deps.state;
    this.#clock = deps.clock;
  }

  /** Why the boot failed, when it did: code and one-line message (no secrets). */
  get failure(): { code: string; message: string } | undefined {
    return this.#state.bootError;
  }

  #stopTimeoutSeconds(): number {
    return this.#config === undefined ? DEFAULT_STOP_TIMEOUT_SECONDS : stopTimeoutSeconds(this.#config);
  }

  /** How long the CLI lets the shutdown take: longer when the app gets `docker.stop_timeout` first. */
  get shutdownDeadlineMs(): number {
    return shutdownDeadlineMs(this.#stopTimeoutSeconds());
  }

  async run(signal: AbortSignal): Promise<ExitCode> {
    const { statusListen } = this.#deps;
    this.#server = createStatusServer({
      status: () => statusDocument(this.#state, this.#clock.now()),
      checks: () => healthChecks(this.#state, this.#clock.now()),
      redactor: this.#deps.redactor,
      now: () => this.#clock.now(),
      onRequest: (path, code) =>
        this.#operator?.agentMetrics.statusRequests.inc({ path, code: String(code) }),
    });
    try {
      const address = await listen(this.#server, statusListen.host, statusListen.port);
      const url = `${baseUrl(address)}/status`;
      this.#state.endpoints.status = url;
      this.#log.info(
        { url, startupMs: Math.round(this.#clock.now() - this.#deps.processStartedAt) },
        'Status endpoint listening',
      );
    } catch (error) {
      this.#log.error({ err: error }, 'Cannot open the status endpoint');
      return ExitCode.Failure;
    }

    await this.#listenMetrics();
    this.#deps.audit?.start(signal);
    this.#deps.audit?.record('agent.boot', { version: VERSION.version, commit: VERSION.commit });

    let exitCode: ExitCode = ExitCode.Ok;
    let outcome: SupervisorOutcome;
    try {
      const adapters = await this.#deps.loadAdapters(this.#operator?.agentMetrics);
      this.#runtime = adapters.runtime;
      this.#containerStats = adapters.containerStats;
      this.#containerEvents = adapters.containerEvents;
      this.#operator?.onAdapters(adapters);
      const result = await boot({ ...this.#deps, ...adapters, hooks: this.#bootHooks() }, signal);
      // The boot is done here; what follows (signals, log shipping, background tasks) is not part of it.
      const timeline = this.#state.timeline;
      this.#log.info(
        {
          totalMs: timeline.totalMs,
          steps: Object.fromEntries(timeline.steps.map((step) => [step.name, step.durationMs ?? null])),
        },
        bootSummary(timeline.totalMs, timeline.summary()),
      );
      this.#config = result.config;
      this.#state.bootState = 'succeeded';
      this.#state.lifecycle = {
        maintenance: result.config.maintenance,
        shutdown: result.config.shutdown,
        powerOff: undefined,
      };
      if (result.container !== undefined) this.#auditBoot(result.container.id);
      // Maintenance is SUCCESS too: the boot did what the user data asked for (see docs/operations.md).
      await this.#signalCloudFormation('SUCCESS');
      await this.#startHostLifecycle(result.config);
      this.#state.configSummary = summarizeConfig(result.config);
      this.#state.containerCheckedAt = this.#clock.now();
      if (result.container !== undefined) void this.#lookUpImageDigest(result.container.imageId, signal);
      if (this.#state.identity !== undefined) {
        const { enhancedCloudwatchMetrics } = result.config;
        this.#cloudwatch = this.#operator?.enhancedCloudWatch(
          enhancedCloudwatchMetrics,
          this.#state.identity,
        );
        this.#cloudwatch?.start();
      }
      outcome = await this.#supervise(result, signal);
    } catch (error) {
      if (signal.aborted) {
        this.#log.info('Boot interrupted by shutdown');
      } else {
        const failure = toTaupageError(error);
        this.#state.bootState = 'failed';
        this.#state.bootError = { code: failure.code, message: this.#deps.redactor.scrub(failure.message) };
        this.#deps.errors.reportFailure('boot', failure);
        this.#log.error(
          { code: failure.code, exitCode: failure.exitCode, err: failure.cause ?? failure },
          `Boot failed: ${failure.message}`,
        );
        exitCode = failure.exitCode;
        await this.#signalCloudFormation('FAILURE');
      }
    }
    if (outcome !== undefined) {
      this.#state.lifecycle ??= { maintenance: false, shutdown: 'never', powerOff: undefined };
      this.#state.lifecycle.powerOff = {
        reason: outcome.powerOff,
        at: new Date(this.#clock.now()).toISOString(),
        error: undefined,
      };
      this.#log.warn({ reason: outcome.powerOff }, `Powering the instance off: ${outcome.powerOff}`);
    }
    await this.#shutdown(outcome !== undefined);
    if (outcome !== undefined) exitCode = await this.#powerOff(outcome.powerOff);
    return exitCode;
  }

  /** After the shutdown flushed logs and the audit trail: the last thing the agent does. */
  async #powerOff(reason: string): Promise<ExitCode> {
    try {
      await this.#deps.hostPower.powerOff(reason, AbortSignal.timeout(POWER_OFF_TIMEOUT_MS));
      this.#log.info('Power-off requested');
      return ExitCode.Ok;
    } catch (error) {
      const failure = toTaupageError(error);
      if (this.#state.lifecycle?.powerOff !== undefined)
        this.#state.lifecycle.powerOff.error = failure.message;
      this.#log.error({ err: error }, `Could not power the instance off: ${failure.message}`);
      return ExitCode.Failure;
    }
  }

  /** Like log shipping, never fails a healthy boot. A termination notice starts the drain. */
  async #startHostLifecycle(config: TaupageConfig): Promise<void> {
    try {
      await this.#deps.hostLifecycle?.start((notice) => {
        const identity = this.#state.identity;
        void drainForTermination(notice, {
          state: this.#state,
          runtime: this.#runtime,
          stopTimeoutSeconds: stopTimeoutSeconds(config),
          logShipping: this.#logShipping,
          audit: this.#deps.audit,
          completeLifecycleAction:
            identity === undefined ? undefined : this.#deps.lifecycleAction?.(config, identity),
          clock: this.#clock,
          log: this.#deps.log.child({ component: 'lifecycle' }),
        });
      });
    } catch (error) {
      const failure = toTaupageError(error);
      this.#deps.errors.reportFailure('host', failure);
      this.#log.error({ err: error }, `Could not start the host's background tasks: ${failure.message}`);
    }
  }

  /**
   * The composed hooks, and log shipping as soon as the secrets are known (the redactor holds
   * them then): a boot that fails later (pull, container, health) still ships the app's output
   * and the agent's log, flushed on the way out, which an operator needs most. It starts
   * alongside the later steps (loading the pipeline and its AWS client takes a while).
   */
  #bootHooks(): BootHooks {
    const hooks = this.#deps.hooks;
    return {
      ...hooks,
      afterSecrets: async (config, identity, secrets) => {
        await hooks?.afterSecrets?.(config, identity, secrets);
        this.#logShippingStarting ??= this.#startLogShipping(config);
      },
    };
  }

  /** Log shipping never fails a boot: a problem is logged and shown in /status. */
  async #startLogShipping(config: TaupageConfig): Promise<void> {
    const identity = this.#state.identity;
    if (this.#deps.startLogShipping === undefined || identity === undefined) return;
    try {
      const pipeline = await this.#deps.startLogShipping(config, identity);
      this.#logShipping = pipeline;
      // Read fresh at each GET /status and scrape.
      if (pipeline !== undefined) this.#state.logPipeline = () => logPipelineState(pipeline.status());
    } catch (error) {
      const failure = toTaupageError(error);
      this.#deps.errors.reportFailure('logs', failure);
      this.#log.error({ err: error }, `Could not start log shipping: ${failure.message}`);
    }
  }

  #signalCloudFormation(status: SignalStatus): Promise<void> {
    return signalBootResult(status, {
      state: this.#state,
      createSignaller: this.#deps.createStackSignaller,
      log: this.#deps.log.child({ component: 'cloudformation' }),
      redactor: this.#deps.redactor,
      now: () => this.#clock.now(),
    });
  }

  /** Until the signal, or until `shutdown:` says power off. Maintenance: nothing to supervise. */
  async #supervise(result: BootResult, signal: AbortSignal): Promise<SupervisorOutcome> {
    const runtime = this.#runtime;
    const application = this.#state.application;
    if (result.container === undefined || runtime === undefined || application === undefined) {
      this.#log.warn('Maintenance: the app is not started; waiting for shutdown');
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
    const { settings } = this.#deps;
    const lastSeenFile = this.#deps.lastSeenFile;
    const supervisor = new Supervisor({
      runtime,
      events: this.#containerEvents,
      clock: this.#clock,
      log: this.#deps.log.child({ component: 'supervisor' }),
      state: this.#state,
      containerName: settings.containerName,
      containerId: result.container.id,
      spec: () =>
        buildContainerSpec(
          result.config,
          application.configDigest,
          {
            containerName: settings.containerName,
            metaDir: settings.metaDir,
            applicationUser: settings.applicationUser,
            // The same host paths as the boot's container, so a recreated one is identical.
            ...(settings.hostPaths === undefined ? {} : { hostPaths: settings.hostPaths }),
          },
          result.secrets,
        ),
      shutdown: result.config.shutdown,
      lastSeen: lastSeenFile === undefined ? undefined : await readLastSeen(lastSeenFile),
      lastSeenFile,
      audit: (type, data) => this.#deps.audit?.record(type, data),
      count: (kind) => this.#operator?.agentMetrics.containerEvents.inc({ kind }),
      recordError: (component, code, message) => {
        this.#deps.errors.reportFailure(component, { code, message });
      },
    });
    // The health check keeps running beside the supervisor (report only, see monitorHealth).
    const stopHealth = new AbortController();
    const monitoring = watchApplicationHealth(
      {
        health: this.#state.health,
        container: () => this.#state.container,
        settings: this.#deps.healthMonitor,
        clock: this.#clock,
        log: this.#deps.log.child({ component: 'health' }),
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

  /**
   * Prometheus /metrics. A port already taken (another exporter on :9100) must not stop the
   * app from booting: the error is logged and shown in GET /status instead.
   */
  async #listenMetrics(): Promise<void> {
    try {
      this.#operator = await this.#deps.loadOperator?.();
    } catch (error) {
      this.#log.error({ err: error }, 'Cannot load the metrics stack; continuing without it');
      return;
    }
    const operator = this.#operator;
    if (operator?.metricsListen === undefined) return;
    const server = createMetricsServer({
      render: operator.renderMetrics,
      log: this.#deps.log.child({ component: 'metrics' }),
    });
    try {
      const address = await listen(server, operator.metricsListen.host, operator.metricsListen.port);
      this.#metricsServer = server;
      const url = `${baseUrl(address)}/metrics`;
      this.#state.endpoints.metrics = url;
      this.#log.info({ url }, 'Metrics endpoint listening');
    } catch (error) {
      this.#log.error({ err: error }, 'Cannot open the metrics endpoint; continuing without it');
      this.#deps.errors.reportFailure('metrics', {
        code: 'INTERNAL',
        message: `Cannot open the metrics endpoint: ${(error as Error).message}`,
      });
    }
  }

  async #lookUpImageDigest(imageId: string, signal: AbortSignal): Promise<void> {
    try {
      const image = await this.#containerStats?.image(imageId, signal);
      const reference = this.#state.application?.image ?? '';
      const repository = reference.replace(/:[^:/]*$/, '').replace(/@.*$/, '');
      this.#state.imageDigest =
        image?.repoDigests.find((digest) => digest.startsWith(`${repository}@`)) ??
        image?.repoDigests[0] ??
        image?.id;
    } catch (error) {
      this.#log.debug({ err: error }, 'Cannot look up the image digest');
    }
  }

  #auditBoot(containerId: string): void {
    const audit = this.#deps.audit;
    if (audit === undefined) return;
    if (this.#state.identity !== undefined) audit.identify(this.#state.identity);
    audit.record('config.digest', { sha256: this.#state.application?.configDigest ?? null });
    audit.record('container.start', { id: containerId, image: this.#state.application?.image ?? null });
  }

  /**
   * Ordered and time-boxed (SHUTDOWN_STAGES): the app container first, the status endpoint and
   * the audit trail last. The app is left running when only the agent stops (an agent restart
   * adopts it); it gets a graceful `docker stop` with `docker.stop_timeout` when the host is
   * shutting down, and is stopped and removed in local mode.
   */
  async #shutdown(poweringOff: boolean): Promise<void> {
    this.#log.info('Shutting down');
    const metricsServer = this.#metricsServer;
    const server = this.#server;
    await runShutdown(
      {
        background: () => {
          this.#cloudwatch?.stop();
          this.#deps.hostLifecycle?.stop();
        },
        app: () =>
          stopAppOnShutdown({
            container: this.#state.container,
            runtime: this.#runtime,
            hostPower: this.#deps.hostPower,
            remove: this.#deps.removeContainerOnExit,
            poweringOff,
            stopTimeoutSeconds: this.#stopTimeoutSeconds(),
            clock: this.#clock,
            log: this.#log,
          }),
        logs: async () => {
          await this.#logShippingStarting;
          await this.#logShipping?.stop(LOG_FLUSH_DEADLINE_MS);
        },
        ...(metricsServer === undefined ? {} : { 'metrics-endpoint': () => close(metricsServer) }),
        ...(server === undefined ? {} : { 'status-endpoint': () => close(server) }),
        audit: async () => {
          this.#deps.audit?.record('agent.stop', {});
          await this.#deps.audit?.stop();
        },
      },
      shutdownBudgets(this.#stopTimeoutSeconds()),
      { clock: this.#clock, log: this.#log },
    );
    this.#log.info('Stopped');
  }
}
