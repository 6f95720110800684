import { CloudFormationClient, SignalResourceCommand } from '@aws-sdk/client-cloudformation';
import type { Clock } from '../core/clock.js';
import { TaupageError } from '../core/errors.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import { httpStatusOf, isThrottling } from '../core/throttling.js';
import type { SignalStatus, SignalTarget, StackSignaller } from './stack-signaller.js';

/**
 * The signal must not be lost to throttling while the stack still waits for it: CloudFormation
 * throttles per account, and a fleet booting at once signals at once. A lost SUCCESS makes the
 * stack wait out its CreationPolicy timeout (Senza's default: 15 minutes) and roll back. So
 * throttling, 5xx and network errors are retried for up to 15 minutes, each wait a random 1–10 s
 * (full jitter doubling from 1 s, capped at 10 s, floor 1 s): an instance signals about every
 * 5 s, ~180 attempts at most. A ValidationError (no such stack, or the resource no longer waits)
 * is final at once: the stack is not waiting any more. See docs/fleet.md.
 */
export const CFN_SIGNAL_RETRY_POLICY: RetryPolicy = {
  name: 'cfn-signal',
  maxAttempts: Number.POSITIVE_INFINITY,
  initialDelayMs: 1_000,
  maxDelayMs: 10_000,
  minDelayMs: 1_000,
  multiplier: 2,
  budgetMs: 15 * 60_000,
  jitter: true,
};

/** Service-side failures worth another attempt besides throttling (core/throttling.ts). */
const RETRIABLE = new Set(['InternalFailure', 'ServiceUnavailable']);

/** Adapter: SignalResource through @aws-sdk/client-cloudformation (AWS query protocol). */
export class AwsCloudFormationSignaller implements StackSignaller {
  readonly #client: CloudFormationClient;

  constructor(
    options: { region: string; endpoint?: string | undefined },
    private readonly clock: Clock,
  ) {
    this.#client = new CloudFormationClient({
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      maxAttempts: 1,
    });
  }

  async signal(
    target: SignalTarget,
    status: SignalStatus,
    uniqueId: string,
    signal: AbortSignal,
  ): Promise<void> {
    const command = new SignalResourceCommand({
      StackName: target.stack,
      LogicalResourceId: target.resource,
      UniqueId: uniqueId,
      Status: status,
    });
    try {
      await retry(
        () =>
          this.#client.send(command, { abortSignal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) }),
        CFN_SIGNAL_RETRY_POLICY,
        {
          clock: this.clock,
          signal,
          isRetriable: (error) => {
            const name = error instanceof Error ? error.name : '';
            const status = httpStatusOf(error);
            return isThrottling(error) || RETRIABLE.has(name) || status === undefined || status >= 500;
          },
        },
      );
    } catch (error) {
      const name = error instanceof Error ? error.name : 'error';
      throw new TaupageError(
        'CFN_SIGNAL_FAILED',
        `CloudFormation refused the ${status} signal for ${target.stack}/${target.resource} (${name})`,
        { cause: error },
      );
    }
  }
}
