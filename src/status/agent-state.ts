import type { SignalStatus, SignalTarget } from '../cloudformation/stack-signaller.js';
import type { BootTimeline } from './boot-timeline.js';
import { ApplicationHealth } from '../health/application-health.js';
import type { ContainerInfo } from '../docker/container-runtime.js';
import type { ContainerHistory } from '../docker/container-watch.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';

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

/** One log destination's shipping state (counts since the agent started). */
export interface LogShippingState {
  readonly destination: string;
  /** 0 when caught up; else seconds since its last acknowledged delivery or since it fell behind. */
  readonly lagSeconds: number;
  /** Spool bytes this destination has not yet acknowledged. */
  readonly spoolBytes: number;
  /** dropped + rejected (kept for clients of the first shape). */
  readonly droppedLines: number;
  /** Records the destination acknowledged. */
  readonly delivered: number;
  /** Records the destination refused for good (too old or new for CloudWatch, empty). */
  readonly rejected: number;
  /** Records dropped unsent because the spool's disk bound was hit. */
  readonly dropped: number;
  /** Failed delivery attempts (each retried). */
  readonly failures: number;
  /** true while its head delivery keeps failing. */
  readonly failing: boolean;
  readonly lastError: string | undefined;
}

/** One log source of the pipeline. */
export interface LogSourceState {
  readonly name: string;
  readonly running: boolean;
  /** Lines read since the agent started. */
  readonly lines: number;
  readonly lastError: string | undefined;
}

/** The log pipeline's numbers, as compose-logs maps them. */
export interface LogPipelineState {
  readonly destinations: readonly LogShippingState[];
  readonly sources: readonly LogSourceState[];
  /** Spool segment bytes on disk, and bytes written but not yet on disk. */
  readonly spool: { readonly diskBytes: number; readonly pendingBytes: number };
}

/** The agent's own log's bounded buffer before the pipeline (EC2 mode). */
export interface AgentLogBufferState {
  readonly state: 'buffering' | 'shipping' | 'off';
  readonly queuedLines: number;
  readonly queuedBytes: number;
  /** Lines lost because the buffer was full, since the agent started. */
  readonly droppedLines: number;
}

/** GET /status `logShipping` and the `taupage_log_*` metrics. */
export interface LogShippingReport extends Omit<LogPipelineState, 'spool'> {
  /** null: log shipping has not started (or ships nothing). */
  readonly spool: LogPipelineState['spool'] | null;
  /** null: the agent's own log is not teed (local mode). */
  readonly agentLog: AgentLogBufferState | null;
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
  lastPublishedAt: string | undefined;
  lastDatums: number;
  lastError: { readonly at: string; readonly code: string } | undefined;
}

/** Batch mode and maintenance (`shutdown`, `maintenance`), once the config is known. */
export interface LifecycleState {
  readonly maintenance: boolean;
  readonly shutdown: 'never' | 'on-exit' | 'on-success';
  /** Set when the agent decided to power the instance off, and why. */
  powerOff: { readonly reason: string; readonly at: string; error: string | undefined } | undefined;
  /**
   * Set when IMDS announced the instance's end (spot interruption, Auto Scaling termination):
   * the agent is draining — app stopped, logs and audit flushed, lifecycle hook completed.
   */
  termination?: {
    readonly notice: string;
    readonly at: string;
    /** Each drain step's outcome once it ran (stop-app, flush-logs, …). */
    steps: { readonly step: string; readonly outcome: string; readonly durationMs: number }[];
  };
}

/** How many errors GET /status keeps: enough for "what went wrong lately", bounded memory. */
export const MAX_RECORDED_ERRORS = 20;

/** The agent's mutable view of the world; the status endpoint serialises a snapshot of it. */
export class AgentState {
  bootState: BootState = 'booting';
  bootError: { code: string; message: string } | undefined;
  identity: InstanceIdentity | undefined;
  application: ApplicationSummary | undefined;
  /** `repo@sha256:…` of the image the container runs, once the supervisor has looked it up. */
  imageDigest: string | undefined;
  /** Keys of the TaupageConfig with every secret replaced (see summarizeConfig). */
  configSummary: Readonly<Record<string, unknown>> | undefined;
  container: ContainerInfo | undefined;
  /** When the supervisor last inspected the container successfully (ms since the epoch). */
  containerCheckedAt: number | undefined;
  /** Restarts, exits, OOM kills, crash loops the supervisor saw (docker/container-watch.ts). */
  containerHistory: ContainerHistory | undefined;
  lifecycle: LifecycleState | undefined;
  /** The app's health check: the boot's gate, then the monitor for as long as the app runs. */
  readonly health = new ApplicationHealth();
  warnings: string[] = [];
  /**
   * Read at each GET /status and scrape (fresh numbers, no copies): the running log pipeline,
   * set once it started, and the agent's own log buffer (EC2 mode).
   */
  logPipeline: (() => LogPipelineState) | undefined;
  agentLogBuffer: (() => AgentLogBufferState) | undefined;
  sshGrants: SshGrantState[] = [];
  cloudwatch: CloudWatchState | undefined;
  /** `notify_cfn`, known as soon as the user data parses (even when the config is invalid). */
  signalTarget: SignalTarget | undefined;
  /** The CloudFormation signal sent for this boot, if any. */
  cloudFormationSignal: { status: SignalStatus; at: string; error: string | undefined } | undefined;
  endpoints: { status?: string; metrics?: string } = {};
  readonly #errors: RecordedError[] = [];
  readonly #errorCounts = new Map<string, number>();

  constructor(
    readonly timeline: BootTimeline,
    readonly agent: { version: string; commit: string; mode: 'ec2' | 'local'; startedAt: string },
  ) {}

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
    const pipeline = this.logPipeline?.();
    return {
      destinations: pipeline?.destinations ?? [],
      sources: pipeline?.sources ?? [],
      spool: pipeline?.spool ?? null,
      agentLog: this.agentLogBuffer?.() ?? null,
    };
  }
}
