import type { TaupageConfig } from '../config/taupage-config.js';
import type { LogPipeline } from '../logs/log-pipeline.js';
import { logShippingState } from './compose-logs.js';
import { signalBootResult } from '../cloudformation/signal-boot-result.js';
import type { SignalStatus, StackSignaller } from '../cloudformation/stack-signaller.js';
import type { Server } from 'node:http';
import type { AgentAudit } from '../audit/agent-audit.js';
import type { Clock } from '../core/clock.js';
import { toTaupageError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import type { ContainerInfo, ContainerRuntime } from '../docker/container-runtime.js';
import type { ContainerStats } from '../docker/container-stats.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { EnhancedCloudWatchMetrics } from '../metrics/enhanced-cloudwatch-metrics.js';
import { createMetricsServer } from '../metrics/metrics-server.js';
import type { OperatorSurface } from '../metrics/operator-surface.js';
import type { AgentState } from '../status/agent-state.js';
import { summarizeConfig } from '../status/config-summary.js';
import { healthChecks } from '../status/health-checks.js';
import { statusDocument } from '../status/status-document.js';
import { baseUrl, close, createStatusServer, listen } from '../status/status-server.js';
import { VERSION } from '../version.js';
import { boot, bootSummary, type BootDependencies } from './boot.js';

/** How often the supervisor re-inspects the container for the status endpoint. */
const SUPERVISE_INTERVAL_MS = 5_000;
/** Each shutdown stage gets at most this long; the whole shutdown stays well inside systemd's 90 s. */
const SHUTDOWN_STAGE_TIMEOUT_MS = 10_000;
/** Flushing logs may take longer than the other stages, but stays inside systemd's stop timeout. */
const LOG_FLUSH_DEADLINE_MS = 20_000;

/** The adapters that pull in big libraries (dockerode, the AWS SDK), loaded after the status endpoint is up. */
export type HeavyAdapters = Pick<
  BootDependencies,
  'runtime' | 'secretDecrypter' | 'registries' | 'loadBalancerHealth'
> & {
  readonly containerStats?: ContainerStats;
};

export interface AgentDependencies extends Omit<BootDependencies, keyof HeavyAdapters> {
  readonly loadAdapters: () => Promise<HeavyAdapters>;
  readonly redactor: Redactor;
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
}

/** The daemon: status endpoint up first, then the boot, then supervision until the signal. */
export class Agent {
  readonly #deps: AgentDependencies;
  readonly #log: Logger;
  readonly #state: AgentState;
  readonly #clock: Clock;
  #server: Server | undefined;
  #logShipping: LogPipeline | undefined;
  #metricsServer: Server | undefined;
  #cloudwatch: EnhancedCloudWatchMetrics | undefined;
  #runtime: ContainerRuntime | undefined;
  #containerStats: ContainerStats | undefined;
  #operator: OperatorSurface | undefined;

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
    try {
      const adapters = await this.#deps.loadAdapters();
      this.#runtime = adapters.runtime;
      this.#containerStats = adapters.containerStats;
      this.#operator?.onAdapters(adapters);
      const result = await boot({ ...this.#deps, ...adapters }, signal);
      this.#state.bootState = 'succeeded';
      this.#auditBoot(result.container.id);
      await this.#signalCloudFormation('SUCCESS');
      await this.#startLogShipping(result.config);
      this.#state.configSummary = summarizeConfig(result.config);
      this.#state.containerCheckedAt = this.#clock.now();
      void this.#lookUpImageDigest(result.container.imageId, signal);
      if (this.#state.identity !== undefined) {
        const { enhancedCloudwatchMetrics } = result.config;
        this.#cloudwatch = this.#operator?.enhancedCloudWatch(
          enhancedCloudwatchMetrics,
          this.#state.identity,
        );
        this.#cloudwatch?.start();
      }
      const timeline = this.#state.timeline;
      this.#log.info(
        {
          totalMs: timeline.totalMs,
          steps: Object.fromEntries(timeline.steps.map((step) => [step.name, step.durationMs ?? null])),
        },
        bootSummary(timeline.totalMs, timeline.summary()),
      );
      await this.#supervise(result.container.id, signal);
    } catch (error) {
      if (signal.aborted) {
        this.#log.info('Boot interrupted by shutdown');
      } else {
        const failure = toTaupageError(error);
        this.#state.bootState = 'failed';
        this.#state.bootError = { code: failure.code, message: this.#deps.redactor.scrub(failure.message) };
        this.#recordError('boot', failure.code, failure.message);
        this.#log.error(
          { code: failure.code, exitCode: failure.exitCode, err: failure.cause ?? failure },
          `Boot failed: ${failure.message}`,
        );
        exitCode = failure.exitCode;
        await this.#signalCloudFormation('FAILURE');
      }
    }
    await this.#shutdown();
    return exitCode;
  }

  /** Log shipping never fails a healthy boot: a problem is logged and shown in /status. */
  async #startLogShipping(config: TaupageConfig): Promise<void> {
    const identity = this.#state.identity;
    if (this.#deps.startLogShipping === undefined || identity === undefined) return;
    try {
      this.#logShipping = await this.#deps.startLogShipping(config, identity);
      // Refreshed by the supervisor every few seconds from here on.
      if (this.#logShipping !== undefined) this.#state.logShipping = logShippingState(this.#logShipping);
    } catch (error) {
      const failure = toTaupageError(error);
      this.#recordError('logs', failure.code, failure.message);
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

  async #supervise(containerId: string, signal: AbortSignal): Promise<void> {
    this.#log.info('Supervising');
    for (;;) {
      try {
        await this.#clock.sleep(SUPERVISE_INTERVAL_MS, signal);
      } catch {
        return; // aborted: shutting down
      }
      try {
        if (this.#logShipping !== undefined) this.#state.logShipping = logShippingState(this.#logShipping);
        const info = await this.#runtime?.inspectContainer(containerId, signal);
        const previous = this.#state.container;
        this.#state.container = info;
        this.#state.containerCheckedAt = this.#clock.now();
        this.#auditContainer(previous, info);
        if (info !== undefined && previous !== undefined && info.restartCount !== previous.restartCount) {
          this.#log.warn(
            { restartCount: info.restartCount, exitCode: info.exitCode, oomKilled: info.oomKilled },
            'Container restarted',
          );
        }
        if (info !== undefined && previous?.state !== info.state) {
          this.#log.info({ state: info.state, exitCode: info.exitCode }, 'Container state changed');
        }
      } catch (error) {
        if (signal.aborted) return;
        this.#log.warn({ err: error }, 'Cannot inspect the container');
        const failure = toTaupageError(error);
        this.#recordError('supervisor', failure.code, failure.message);
      }
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
    const server = createMetricsServer({ render: operator.renderMetrics });
    try {
      const address = await listen(server, operator.metricsListen.host, operator.metricsListen.port);
      this.#metricsServer = server;
      const url = `${baseUrl(address)}/metrics`;
      this.#state.endpoints.metrics = url;
      this.#log.info({ url }, 'Metrics endpoint listening');
    } catch (error) {
      this.#log.error({ err: error }, 'Cannot open the metrics endpoint; continuing without it');
      this.#recordError(
        'metrics',
        'INTERNAL',
        `Cannot open the metrics endpoint: ${(error as Error).message}`,
      );
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

  #auditContainer(previous: ContainerInfo | undefined, info: ContainerInfo | undefined): void {
    if (info === undefined || previous === undefined) return;
    if (info.restartCount !== previous.restartCount)
      this.#deps.audit?.record('container.restart', {
        id: info.id,
        restartCount: info.restartCount,
        exitCode: info.exitCode,
        oomKilled: info.oomKilled,
      });
    else if (info.state !== previous.state && info.state !== 'running')
      this.#deps.audit?.record('container.stop', { id: info.id, state: info.state, exitCode: info.exitCode });
  }

  #recordError(component: string, code: string, message: string): void {
    if (this.#state.identity !== undefined) this.#deps.audit?.identify(this.#state.identity);
    this.#deps.audit?.record('agent.error', { component, code, message: this.#deps.redactor.scrub(message) });
    this.#state.recordError({
      at: new Date(this.#clock.now()).toISOString(),
      component,
      code,
      message: this.#deps.redactor.scrub(message),
    });
    this.#operator?.agentMetrics.errors.inc({ code });
  }

  /** Ordered and time-boxed: the app container first (local mode), the status endpoint last. */
  async #shutdown(): Promise<void> {
    this.#log.info('Shutting down');
    this.#cloudwatch?.stop();
    const container = this.#state.container;
    const runtime = this.#runtime;
    if (this.#deps.removeContainerOnExit && container !== undefined && runtime !== undefined) {
      const stopSignal = AbortSignal.timeout(SHUTDOWN_STAGE_TIMEOUT_MS + 5_000);
      try {
        await runtime.stopContainer(container.id, Math.round(SHUTDOWN_STAGE_TIMEOUT_MS / 1000), stopSignal);
        await runtime.removeContainer(container.id, stopSignal);
        this.#log.info({ id: container.id }, 'Removed container');
      } catch (error) {
        this.#log.warn({ err: error }, 'Could not remove the container');
      }
    }
    // After the container (its last lines are in the spool), before the endpoints.
    await this.#logShipping?.stop(LOG_FLUSH_DEADLINE_MS);
    if (this.#metricsServer !== undefined) {
      await Promise.race([close(this.#metricsServer), this.#clock.sleep(SHUTDOWN_STAGE_TIMEOUT_MS)]);
    }
    if (this.#server !== undefined) {
      await Promise.race([close(this.#server), this.#clock.sleep(SHUTDOWN_STAGE_TIMEOUT_MS)]);
    }
    // Last: the trail gets the shutdown itself, then is flushed off the host (time-boxed inside).
    this.#deps.audit?.record('agent.stop', {});
    await this.#deps.audit?.stop();
    this.#log.info('Stopped');
  }
}
