import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import type { AgentState } from '../status/agent-state.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { SignalStatus, StackSignaller } from './stack-signaller.js';

/**
 * How long the boot result may take to reach CloudFormation: the signaller's 15-minute retry
 * budget (CFN_SIGNAL_RETRY_POLICY, as long as a CreationPolicy waits) plus its last request.
 */
const SIGNAL_DEADLINE_MS = 15 * 60_000 + 15_000;

export interface SignalBootResultOptions {
  readonly state: AgentState;
  readonly createSignaller: ((identity: InstanceIdentity) => Promise<StackSignaller>) | undefined;
  readonly log: Logger;
  readonly redactor: Redactor;
  readonly now: () => number;
  /** Aborted at shutdown: stop retrying. */
  readonly signal?: AbortSignal;
}

/**
 * Sends SUCCESS after a healthy boot, FAILURE after one that failed for good (the agent sends
 * none after a transient failure: systemd restarts it) — invalid config included,
 * where the original sent nothing and the stack waited out its 15-minute CreationPolicy.
 * SignalResource has no reason field: the reason is in the log, the console line and /status.
 * Never throws: a lost signal must not change the boot's own outcome.
 */
export async function signalBootResult(
  status: SignalStatus,
  options: SignalBootResultOptions,
): Promise<void> {
  const { state, log } = options;
  const target = state.signalTarget;
  if (target === undefined) return;
  const identity = state.identity;
  if (options.createSignaller === undefined || identity === undefined) {
    log.info(
      { stack: target.stack, resource: target.resource, status },
      'notify_cfn is set, but there is no CloudFormation here (local mode): not signalling',
    );
    return;
  }
  const at = new Date(options.now()).toISOString();
  try {
    const signaller = await options.createSignaller(identity);
    const deadline = AbortSignal.timeout(SIGNAL_DEADLINE_MS);
    await signaller.signal(
      target,
      status,
      identity.instanceId,
      options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline]),
    );
    state.cloudFormationSignalled({ status, at, error: undefined });
    log.info(
      { stack: target.stack, resource: target.resource, status },
      `Signalled CloudFormation: ${status}`,
    );
  } catch (error) {
    const message = options.redactor.scrub(error instanceof Error ? error.message : String(error));
    state.cloudFormationSignalled({ status, at, error: message });
    log.error(
      { stack: target.stack, resource: target.resource, status, err: error },
      `Could not signal CloudFormation: ${message}`,
    );
  }
}
