import type { SignalStatus, SignalTarget } from '../cloudformation/stack-signaller.js';
import type { BootTimeline } from './boot-timeline.js';
import { ApplicationHealth } from '../health/application-health.js';
import type { ContainerInfo } from '../docker/container-runtime.js';
import type { ContainerHistory } from '../docker/container-watch.js';
import type { EtcdRegistrationStatus } from '../etcd/etcd-registration.js';
import type { LocalEtcdStatus } from '../etcd/local-etcd.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { AgentLogBufferState, LogPipelineState, LogShippingReport } from './log-shipping-state.js';

export type BootState = 'booting' | 'succeeded' | 'failed';

export interface ApplicationSummary {
  readonly id: string | undefined;
  readonly version: string | undefined;
  readonly image: string;
  readonly configDigest: string;
}

export interface RecordedError {
  readonly at: string;
  readonly component: string;
  readonly code: string;
  /** One line, scrubbed of secrets before it is stored. */
  readonly message: string;
}

/**
 * GET /status `etcd` and the `taupage_etcd_*` metrics (`etcd_discovery_domain`): the
 * instance-local etcd the agent runs (null: none, e.g. `--etcd-binary off`) and the heartbeat
 * (null: not started yet).
 */
export interface EtcdState {
  readonly domain: string;
  readonly server: LocalEtcdStatus | null;
  readonly registration: EtcdRegistrationStatus | null;
}

/** One active SSH access grant (filled in by the SSH access issue); never the key itself. */
export interface SshGrantState {
  readonly user: string;
  readonly expiresAt: string;
  readonly reason: string | undefined;
}

export interface CloudWatchState {
  readonly namespace: string;
  readonly intervalSeconds: number;
  readonly lastPublishedAt: string | undefined;
  readonly lastDatums: number;
  readonly lastError: { readonly at: string; readonly code: string } | undefined;
}

/** Batch mode and maintenance (`shutdown`, `maintenance`), once the config is known. */
export interface LifecycleState {
  readonly maintenance: boolean;
  readonly shutdown: 'never' | 'on-exit' | 'on-success';
  /** Set when the agent decided to power the instance off, and why. */
  readonly powerOff: PowerOffState | undefined;
  /**
   * Set when IMDS announced the instance's end (spot interruption, Auto Scaling termination):
   * the agent is draining — app stopped, logs and audit flushed, lifecycle hook completed.
   */
  readonly termination?: TerminationState;
}

export interface PowerOffState {
  readonly reason: string;
  readonly at: string;
  readonly error: string | undefined;
}

export interface TerminationState {
  readonly notice: string;
  readonly at: string;
  /** Each drain step's outcome once it ran (stop-app, flush-logs, …). */
  readonly steps: readonly DrainStepState[];
}

export interface DrainStepState {
  readonly step: string;
  readonly outcome: string;
  readonly durationMs: number;
}

export interface CloudFormationSignalState {
  readonly status: SignalStatus;
  readonly at: string;
  readonly error: string | undefined;
}

/** How many errors GET /status keeps: enough for "what went wrong lately", bounded memory. */
export const MAX_RECORDED_ERRORS = 20;

/** Before the config says otherwise (a failed boot, a termination notice before it). */
const NO_LIFECYCLE: LifecycleState = { maintenance: false, shutdown: 'never', powerOff: undefined };

/**
 * The agent's view of the world; the status endpoint and the metrics read a snapshot of it.
 * Readonly from the outside: it changes only through the named methods below, each saying what
 * happened (like the ECS agent's dockerstate), so a reader can find every writer of a field.
 */
export class AgentState {
  #bootState: BootState = 'booting';
  #bootError: { readonly code: string; readonly message: string } | undefined;
  #identity: InstanceIdentity | undefined;
  #application: ApplicationSummary | undefined;
  #imageDigest: string | undefined;
  #configSummary: Readonly<Record<string, unknown>> | undefined;
  #container: ContainerInfo | undefined;
  #containerCheckedAt: number | undefined;
  #containerHistory: ContainerHistory | undefined;
  #lifecycle: LifecycleState | undefined;
  #warnings: readonly string[] = [];
  /** The app's health check: the boot's gate, then the monitor for as long as the app runs (its own write API). */
  readonly health = new ApplicationHealth();
  #logPipeline: (() => LogPipelineState) | undefined;
  #agentLogBuffer: (() => AgentLogBufferState) | undefined;
  #etcd: (() => EtcdState) | undefined;
  #sshGrants: readonly SshGrantState[] = [];
  #cloudwatch: CloudWatchState | undefined;
  #signalTarget: SignalTarget | undefined;
  #cloudFormationSignal: CloudFormationSignalState | undefined;
  #endpoints: { readonly status?: string; readonly metrics?: string } = {};
  readonly #errors: RecordedError[] = [];
  readonly #errorCounts = new Map<string, number>();

  constructor(
    readonly timeline: BootTimeline,
    readonly agent: {
      readonly version: string;
      readonly commit: string;
      readonly mode: 'ec2' | 'local';
      readonly startedAt: string;
    },
  ) {}

  get bootState(): BootState {
    return this.#bootState;
  }
  get bootError(): { readonly code: string; readonly message: string } | undefined {
    return this.#bootError;
  }
  get identity(): InstanceIdentity | undefined {
    return this.#identity;
  }
  get application(): ApplicationSummary | undefined {
    return this.#application;
  }
  /** `repo@sha256:…` of the image the container runs, once looked up after the boot. */
  get imageDigest(): string | undefined {
    return this.#imageDigest;
  }
  /** Keys of the TaupageConfig with every secret replaced (see summarizeConfig). */
  get configSummary(): Readonly<Record<string, unknown>> | undefined {
    return this.#configSummary;
  }
  get container(): ContainerInfo | undefined {
    return this.#container;
  }
  /** When the container was last inspected successfully (ms since the epoch). */
  get containerCheckedAt(): number | undefined {
    return this.#containerCheckedAt;
  }
  /** Restarts, exits, OOM kills, crash loops the supervisor saw (docker/container-watch.ts). */
  get containerHistory(): ContainerHistory | undefined {
    return this.#containerHistory;
  }
  get lifecycle(): LifecycleState | undefined {
    return this.#lifecycle;
  }
  get warnings(): readonly string[] {
    return this.#warnings;
  }
  get sshGrants(): readonly SshGrantState[] {
    return this.#sshGrants;
  }
  get cloudwatch(): CloudWatchState | undefined {
    return this.#cloudwatch;
  }
  /** `notify_cfn`, known as soon as the user data parses (even when the config is invalid). */
  get signalTarget(): SignalTarget | undefined {
    return this.#signalTarget;
  }
  /** The CloudFormation signal sent for this boot, if any. */
  get cloudFormationSignal(): CloudFormationSignalState | undefined {
    return this.#cloudFormationSignal;
  }
  get endpoints(): { readonly status?: string; readonly metrics?: string } {
    return this.#endpoints;
  }

  // The boot.

  identified(identity: InstanceIdentity): void {
    this.#identity = identity;
  }

  signalTargetKnown(target: SignalTarget | undefined): void {
    this.#signalTarget = target;
  }

  configValidated(warnings: readonly string[]): void {
    this.#warnings = warnings;
  }

  applicationKnown(application: ApplicationSummary): void {
    this.#application = application;
  }

  /** The container as last seen (undefined: none); `checkedAt`: when that inspect succeeded. */
  containerObserved(container: ContainerInfo | undefined, checkedAt?: number): void {
    this.#container = container;
    if (checkedAt !== undefined) this.#containerCheckedAt = checkedAt;
  }

  containerHistoryKept(history: ContainerHistory): void {
    this.#containerHistory = history;
  }

  bootSucceeded(config: {
    readonly maintenance: boolean;
    readonly shutdown: LifecycleState['shutdown'];
  }): void {
    this.#bootState = 'succeeded';
    this.#lifecycle = {
      ...this.#lifecycle,
      maintenance: config.maintenance,
      shutdown: config.shutdown,
      powerOff: undefined,
    };
  }

  /** `error` is scrubbed already (one line, no secrets). */
  bootFailed(error: { readonly code: string; readonly message: string }): void {
    this.#bootState = 'failed';
    this.#bootError = error;
  }

  configSummarized(summary: Readonly<Record<string, unknown>>): void {
    this.#configSummary = summary;
  }

  imageDigestKnown(digest: string | undefined): void {
    this.#imageDigest = digest;
  }

  cloudFormationSignalled(signal: CloudFormationSignalState): void {
    this.#cloudFormationSignal = signal;
  }

  endpointListening(endpoint: 'status' | 'metrics', url: string): void {
    this.#endpoints = { ...this.#endpoints, [endpoint]: url };
  }

  // What runs beside the app.

  /** Read at each GET /status and scrape (fresh numbers, no copies). */
  logPipelineStarted(read: () => LogPipelineState): void {
    this.#logPipeline = read;
  }

  /** The local etcd and the heartbeat (`etcd_discovery_domain`), read at each GET /status and scrape. */
  etcdStarted(read: () => EtcdState): void {
    this.#etcd = read;
  }

  /** undefined: no `etcd_discovery_domain` (or not started yet). */
  get etcd(): EtcdState | undefined {
    return this.#etcd?.();
  }

  /** The agent's own log buffer before the pipeline (EC2 mode), read at each GET /status. */
  agentLogBuffered(read: () => AgentLogBufferState): void {
    this.#agentLogBuffer = read;
  }

  sshGrantsChanged(grants: readonly SshGrantState[]): void {
    this.#sshGrants = grants;
  }

  cloudwatchStarted(namespace: string, intervalSeconds: number): void {
    this.#cloudwatch = {
      namespace,
      intervalSeconds,
      lastPublishedAt: undefined,
      lastDatums: 0,
      lastError: undefined,
    };
  }

  cloudwatchPublished(at: string, datums: number): void {
    if (this.#cloudwatch !== undefined)
      this.#cloudwatch = { ...this.#cloudwatch, lastPublishedAt: at, lastDatums: datums };
  }

  cloudwatchFailed(at: string, code: string): void {
    if (this.#cloudwatch !== undefined) this.#cloudwatch = { ...this.#cloudwatch, lastError: { at, code } };
  }

  // The end: power-off (`shutdown:`) and the termination drain.

  poweringOff(reason: string, at: string): void {
    this.#lifecycle = { ...(this.#lifecycle ?? NO_LIFECYCLE), powerOff: { reason, at, error: undefined } };
  }

  powerOffFailed(error: string): void {
    const lifecycle = this.#lifecycle;
    if (lifecycle?.powerOff === undefined) return;
    this.#lifecycle = { ...lifecycle, powerOff: { ...lifecycle.powerOff, error } };
  }

  drainStarted(notice: string, at: string): void {
    this.#lifecycle = { ...(this.#lifecycle ?? NO_LIFECYCLE), termination: { notice, at, steps: [] } };
  }

  drainFinished(steps: readonly DrainStepState[]): void {
    const lifecycle = this.#lifecycle;
    if (lifecycle?.termination === undefined) return;
    this.#lifecycle = { ...lifecycle, termination: { ...lifecycle.termination, steps } };
  }

  /**
   * Remembers an error for GET /status (newest last, the oldest dropped past the cap) and counts
   * it by code (`taupage_errors_total`). Scrubbed already: the ErrorReporter calls this.
   */
  recordError(error: RecordedError): void {
    this.#errors.push(error);
    if (this.#errors.length > MAX_RECORDED_ERRORS) this.#errors.shift();
    this.#errorCounts.set(error.code, (this.#errorCounts.get(error.code) ?? 0) + 1);
  }

  /** Errors recorded since the agent started, by code. */
  get errorCounts(): ReadonlyMap<string, number> {
    return this.#errorCounts;
  }

  get errors(): readonly RecordedError[] {
    return this.#errors;
  }

  get logShipping(): LogShippingReport {
    const pipeline = this.#logPipeline?.();
    return {
      destinations: pipeline?.destinations ?? [],
      sources: pipeline?.sources ?? [],
      spool: pipeline?.spool ?? null,
      agentLog: this.#agentLogBuffer?.() ?? null,
    };
  }
}
