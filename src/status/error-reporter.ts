import type { Clock } from '../core/clock.js';
import { toTaupageError } from '../core/errors.js';
import type { Redactor } from '../core/redactor.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { AgentState, RecordedError } from './agent-state.js';

/** What the reporter needs of the audit trail (AgentAudit fits). */
export interface ErrorAudit {
  identify(identity: InstanceIdentity): void;
  record(type: 'agent.error', data: Readonly<Record<string, unknown>>): void;
}

export interface ReportOptions {
  /** Says what was being done: "Cannot open the metrics endpoint: <the error>". */
  readonly context?: string;
  /** Into the audit trail too (default). Off for routine failures of background rounds. */
  readonly audit?: boolean;
}

/** Port: the one way an error that does not stop the agent is recorded. */
export interface ErrorReporter {
  report(component: string, error: unknown, options?: ReportOptions): RecordedError;
  /** The same, for a failure already reduced to its code and message (by the component that saw it). */
  reportFailure(component: string, failure: Failure, options?: ReportOptions): RecordedError;
}

export interface Failure {
  readonly code: string;
  readonly message: string;
}

export interface ErrorReporterDependencies {
  readonly state: AgentState;
  readonly redactor: Redactor;
  readonly clock: Clock;
  /** undefined: no audit trail on this agent. */
  readonly audit?: ErrorAudit | undefined;
}

/**
 * Records an error once: scrubbed of every secret the redactor knows, kept in GET /status
 * `lastErrors` and counted in `taupage_errors_total` (both through AgentState), and written to
 * the audit trail as `agent.error`. The caller logs it (with its own component logger).
 */
export class AgentErrorReporter implements ErrorReporter {
  readonly #deps: ErrorReporterDependencies;

  constructor(deps: ErrorReporterDependencies) {
    this.#deps = deps;
  }

  report(component: string, error: unknown, options: ReportOptions = {}): RecordedError {
    return this.reportFailure(component, toTaupageError(error), options);
  }

  reportFailure(component: string, failure: Failure, options: ReportOptions = {}): RecordedError {
    const { state, redactor, clock, audit } = this.#deps;
    const text = options.context === undefined ? failure.message : `${options.context}: ${failure.message}`;
    const recorded: RecordedError = {
      at: new Date(clock.now()).toISOString(),
      component,
      code: failure.code,
      message: redactor.scrub(text),
    };
    if (audit !== undefined && options.audit !== false) {
      if (state.identity !== undefined) audit.identify(state.identity);
      audit.record('agent.error', { component, code: recorded.code, message: recorded.message });
    }
    state.recordError(recorded);
    return recorded;
  }
}
