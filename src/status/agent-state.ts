import type { SignalStatus, SignalTarget } from '../cloudformation/stack-signaller.js';
import type { BootTimeline } from './boot-timeline.js';
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

export interface HealthSummary {
  /** passing/failing: our HTTP check; none: no health_check_path configured. */
  status: 'unknown' | 'passing' | 'failing' | 'none';
  url: string | undefined;
  lastCheckedAt: string | undefined;
}

export interface RecordedError {
  readonly at: string;
  readonly component: string;
  readonly code: string;
  /** One line, scrubbed of secrets before it is stored. */
  readonly message: string;
}

/** One log destination's shipping state (filled in by the log shipping issue). */
export interface LogShippingState {
  readonly destination: string;
  readonly lagSeconds: number | undefined;
  readonly spoolBytes: number;
  readonly droppedLines: number;
  readonly lastError: string | undefined;
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
  health: HealthSummary = { status: 'unknown', url: undefined, lastCheckedAt: undefined };
  warnings: string[] = [];
  logShipping: LogShippingState[] = [];
  sshGrants: SshGrantState[] = [];
  cloudwatch: CloudWatchState | undefined;
  /** `notify_cfn`, known as soon as the user data parses (even when the config is invalid). */
  signalTarget: SignalTarget | undefined;
  /** The CloudFormation signal sent for this boot, if any. */
  cloudFormationSignal: { status: SignalStatus; at: string; error: string | undefined } | undefined;
  endpoints: { status?: string; metrics?: string } = {};
  readonly #errors: RecordedError[] = [];

  constructor(
    readonly timeline: BootTimeline,
    readonly agent: { version: string; commit: string; mode: 'ec2' | 'local'; startedAt: string },
  ) {}

  /** Remembers an error for GET /status (newest last, the oldest dropped past the cap). */
  recordError(error: RecordedError): void {
    this.#errors.push(error);
    if (this.#errors.length > MAX_RECORDED_ERRORS) this.#errors.shift();
  }

  get errors(): readonly RecordedError[] {
    return this.#errors;
  }
}
