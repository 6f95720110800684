/** Where a boot's result goes: the ASG (or instance) resource waiting in a CloudFormation stack. */
export interface SignalTarget {
  readonly stack: string;
  readonly resource: string;
}

export type SignalStatus = 'SUCCESS' | 'FAILURE';

/**
 * Port: tells CloudFormation how the boot went (SignalResource). Without it a failed boot left the
 * original's stacks waiting 15 minutes for the CreationPolicy to time out.
 */
export interface StackSignaller {
  signal(target: SignalTarget, status: SignalStatus, uniqueId: string, signal: AbortSignal): Promise<void>;
}
