import type { AgentAudit } from '../audit/agent-audit.js';
import { signalBootResult } from '../cloudformation/signal-boot-result.js';
import type { SignalStatus, StackSignaller } from '../cloudformation/stack-signaller.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import type { Clock } from '../core/clock.js';
import { toTaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import type { ContainerRuntime } from '../docker/container-runtime.js';
import type { ContainerStats } from '../docker/container-stats.js';
import type { TerminationNotice } from '../host/lifecycle-watcher.js';
import type { LogPipeline } from '../logs/log-pipeline.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { EnhancedCloudWatchMetrics } from '../metrics/enhanced-cloudwatch-metrics.js';
import type { OperatorSurface } from '../metrics/operator-surface.js';
import type { ConfigSecrets } from '../secrets/decrypt-config-secrets.js';
import type { AgentState } from '../status/agent-state.js';
import { summarizeConfig } from '../status/config-summary.js';
import type { ErrorReporter } from '../status/error-reporter.js';
import { stopTimeoutSeconds, type BootHooks, type BootResult } from './boot.js';
import type { LocalEtcd } from '../etcd/local-etcd.js';
import type { RunningRegistration } from './compose-etcd.js';
import { logPipelineState } from './compose-logs.js';
import { LOG_FLUSH_DEADLINE_MS, type ShutdownWork } from './shutdown.js';
import { drainForTermination } from './termination.js';

/** What the agent needs of a running log pipeline (LogPipeline fits). */
export type RunningLogShipping = Pick<LogPipeline, 'status' | 'stop'>;

/** What runs beside the app once the boot got far enough: log shipping, host tasks, signals. */
export interface AgentServicesDependencies {
  /** Ships `cloudwatch_logs` & co.; undefined: no log shipping here. */
  readonly startLogShipping:
    | ((
        config: TaupageConfig,
        identity: InstanceIdentity,
        secrets: ConfigSecrets,
      ) => Promise<RunningLogShipping | undefined>)
    | undefined;
  /** CloudFormation for notify_cfn; undefined: nothing to signal (local mode). Loaded on first use. */
  readonly createStackSignaller: ((identity: InstanceIdentity) => Promise<StackSignaller>) | undefined;
  /** After the boot: credentials refresh and the spot/Auto Scaling termination watcher. */
  readonly hostLifecycle?: {
    start(onTermination: (notice: TerminationNotice) => void): Promise<void>;
    stop(): void;
  };
  /** The etcd heartbeat for `etcd_discovery_domain` (compose-etcd.ts); undefined: none. */
  readonly startEtcdRegistration?: (
    config: TaupageConfig,
    identity: InstanceIdentity,
  ) => Promise<RunningRegistration | undefined>;
  /**
   * The instance-local etcd for `etcd_discovery_domain` (compose-etcd.ts), started once the
   * config is known, before the app; undefined (or returning undefined): none.
   */
  readonly startLocalEtcd?: (config: TaupageConfig, identity: InstanceIdentity) => LocalEtcd | undefined;
  /** CompleteLifecycleAction for `lifecycle_hook` (EC2 mode); undefined: no hook to complete. */
  readonly lifecycleAction?:
    | ((
        config: TaupageConfig,
        identity: InstanceIdentity,
      ) => ((signal: AbortSignal) => Promise<void>) | undefined)
    | undefined;
  readonly audit?: AgentAudit;
  readonly state: AgentState;
  readonly errors: ErrorReporter;
  readonly redactor: Redactor;
  readonly clock: Clock;
  readonly log: Logger;
}

/** The parts of the agent that start during or after the boot and stop in its shutdown. */
export class AgentServices {
  readonly #deps: AgentServicesDependencies;
  readonly #log: Logger;
  #logShipping: RunningLogShipping | undefined;
  /** Log shipping being started (alongside the boot's later steps, not in their way). */
  #logShippingStarting: Promise<void> | undefined;
  #cloudwatch: EnhancedCloudWatchMetrics | undefined;
  /** The SUCCESS signal in flight (it may retry for minutes under throttling). */
  #signalling: Promise<void> | undefined;
  #etcd: RunningRegistration | undefined;
  #localEtcd: LocalEtcd | undefined;
  #etcdDomain: string | undefined;

  constructor(deps: AgentServicesDependencies) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'agent' });
  }

  /**
   * The composed hooks, and log shipping as soon as the secrets are known (the redactor holds
   * them then): a boot that fails later (pull, container, health) still ships the app's output
   * and the agent's log, flushed on the way out, which an operator needs most. It starts
   * alongside the later steps (loading the pipeline and its AWS client takes a while).
   */
  bootHooks(hooks: BootHooks | undefined): BootHooks {
    return {
      ...hooks,
      afterSecrets: async (config, identity, secrets) => {
        await hooks?.afterSecrets?.(config, identity, secrets);
        this.#logShippingStarting ??= this.#startLogShipping(config, secrets);
        this.#startLocalEtcd(config, identity);
      },
    };
  }

  /** After a boot that did what the user data asked for: audit, signal, background tasks. */
  async afterBoot(
    result: BootResult,
    adapters: { readonly runtime: ContainerRuntime; readonly containerStats?: ContainerStats | undefined },
    operator: OperatorSurface | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const { state, clock } = this.#deps;
    if (result.container !== undefined) this.#auditBoot(result.container.id);
    // Maintenance is SUCCESS too: the boot did what the user data asked for (see docs/operations.md).
    // Under throttling the signal retries for up to 15 minutes (docs/fleet.md): what follows does
    // not wait for it, and shutdown (the aborted `signal`) ends it.
    this.#signalling = this.signalCloudFormation('SUCCESS', signal);
    await this.#startHostLifecycle(result.config, adapters.runtime);
    await this.#startEtcdRegistration(result.config);
    state.configSummarized(summarizeConfig(result.config));
    state.containerObserved(state.container, clock.now());
    if (result.container !== undefined)
      void this.#lookUpImageDigest(result.container.imageId, adapters.containerStats, signal);
    if (state.identity !== undefined) {
      this.#cloudwatch = operator?.enhancedCloudWatch(
        result.config.enhancedCloudwatchMetrics,
        state.identity,
      );
      this.#cloudwatch?.start();
    }
  }

  signalCloudFormation(status: SignalStatus, signal?: AbortSignal): Promise<void> {
    return signalBootResult(status, {
      ...(signal === undefined ? {} : { signal }),
      state: this.#deps.state,
      createSignaller: this.#deps.createStackSignaller,
      log: this.#deps.log.child({ component: 'cloudformation' }),
      redactor: this.#deps.redactor,
      now: () => this.#deps.clock.now(),
    });
  }

  /** The background tasks stop first; the logs flush after the app stopped (its last lines). */
  shutdownWork(): ShutdownWork {
    return {
      background: async () => {
        // First: no etcd heartbeat for an app about to stop (the key expires with its TTL).
        const etcdStopped = this.#etcd?.stop();
        this.#cloudwatch?.stop();
        this.#deps.hostLifecycle?.stop();
        await etcdStopped;
        await this.#signalling;
      },
      logs: async () => {
        // The app has stopped (or runs on without the agent): its etcd stops beside the flush.
        const etcdStopped = this.#localEtcd?.stop();
        await this.#logShippingStarting;
        await this.#logShipping?.stop(LOG_FLUSH_DEADLINE_MS);
        await etcdStopped;
      },
    };
  }

  /** Log shipping never fails a boot: a problem is logged and shown in /status. */
  async #startLogShipping(config: TaupageConfig, secrets: ConfigSecrets): Promise<void> {
    const { state } = this.#deps;
    const identity = state.identity;
    if (this.#deps.startLogShipping === undefined || identity === undefined) return;
    try {
      const pipeline = await this.#deps.startLogShipping(config, identity, secrets);
      this.#logShipping = pipeline;
      // Read fresh at each GET /status and scrape.
      if (pipeline !== undefined) state.logPipelineStarted(() => logPipelineState(pipeline.status()));
    } catch (error) {
      const failure = toTaupageError(error);
      this.#deps.errors.reportFailure('logs', failure);
      this.#log.error({ err: error }, `Could not start log shipping: ${failure.message}`);
    }
  }

  /** The local etcd and the heartbeat in /status and the metrics, once etcd_discovery_domain is known. */
  #showEtcd(domain: string): void {
    if (this.#etcdDomain !== undefined) return;
    this.#etcdDomain = domain;
    this.#deps.state.etcdStarted(() => ({
      domain,
      server: this.#localEtcd?.status() ?? null,
      registration: this.#etcd?.registration.status() ?? null,
    }));
  }

  /** Never fails a boot: the local etcd retries (discovery, exits) on its own and shows in /status. */
  #startLocalEtcd(config: TaupageConfig, identity: InstanceIdentity): void {
    if (config.etcdDiscoveryDomain === undefined || this.#localEtcd !== undefined) return;
    this.#showEtcd(config.etcdDiscoveryDomain);
    try {
      this.#localEtcd = this.#deps.startLocalEtcd?.(config, identity);
    } catch (error) {
      const failure = toTaupageError(error);
      this.#deps.errors.reportFailure('etcd', failure);
      this.#log.error({ err: error }, `Could not start the local etcd: ${failure.message}`);
    }
  }

  /** Like log shipping, never fails a healthy boot: a problem is logged and shown in /status. */
  async #startEtcdRegistration(config: TaupageConfig): Promise<void> {
    const identity = this.#deps.state.identity;
    if (identity === undefined || this.#deps.startEtcdRegistration === undefined) return;
    if (config.etcdDiscoveryDomain !== undefined) this.#showEtcd(config.etcdDiscoveryDomain);
    try {
      this.#etcd = await this.#deps.startEtcdRegistration(config, identity);
    } catch (error) {
      const failure = toTaupageError(error);
      this.#deps.errors.reportFailure('etcd', failure);
      this.#log.error({ err: error }, `Could not start the etcd registration: ${failure.message}`);
    }
  }

  /** Like log shipping, never fails a healthy boot. A termination notice starts the drain. */
  async #startHostLifecycle(config: TaupageConfig, runtime: ContainerRuntime): Promise<void> {
    const { state, clock } = this.#deps;
    try {
      await this.#deps.hostLifecycle?.start((notice) => {
        const identity = state.identity;
        void drainForTermination(notice, {
          state,
          runtime,
          stopTimeoutSeconds: stopTimeoutSeconds(config),
          logShipping: this.#logShipping,
          audit: this.#deps.audit,
          completeLifecycleAction:
            identity === undefined ? undefined : this.#deps.lifecycleAction?.(config, identity),
          clock,
          log: this.#deps.log.child({ component: 'lifecycle' }),
        });
      });
    } catch (error) {
      const failure = toTaupageError(error);
      this.#deps.errors.reportFailure('host', failure);
      this.#log.error({ err: error }, `Could not start the host's background tasks: ${failure.message}`);
    }
  }

  async #lookUpImageDigest(
    imageId: string,
    containerStats: ContainerStats | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const { state } = this.#deps;
    try {
      const image = await containerStats?.image(imageId, signal);
      const reference = state.application?.image ?? '';
      const repository = reference.replace(/:[^:/]*$/, '').replace(/@.*$/, '');
      state.imageDigestKnown(
        image?.repoDigests.find((digest) => digest.startsWith(`${repository}@`)) ??
          image?.repoDigests[0] ??
          image?.id,
      );
    } catch (error) {
      this.#log.debug({ err: error }, 'Cannot look up the image digest');
    }
  }

  #auditBoot(containerId: string): void {
    const { audit, state } = this.#deps;
    if (audit === undefined) return;
    if (state.identity !== undefined) audit.identify(state.identity);
    audit.record('config.digest', { sha256: state.application?.configDigest ?? null });
    audit.record('container.start', { id: containerId, image: state.application?.image ?? null });
  }
}
