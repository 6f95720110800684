import { CloudFormationClient, SignalResourceCommand } from '@aws-sdk/client-cloudformation';
import type { Clock } from '../core/clock.js';
import { TaupageError } from '../core/errors.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import type { SignalStatus, SignalTarget, StackSignaller } from './stack-signaller.js';

/**
 * CloudFormation throttles per account; a fleet booting at once signals at once. 5 attempts with
 * full jitter from 500 ms (cap 8 s) spread them; a ValidationError (no such stack, resource not
 * waiting) is final.
 */
export const CFN_SIGNAL_RETRY_POLICY: RetryPolicy = {
  name: 'cfn-signal',
  maxAttempts: 5,
  initialDelayMs: 500,
  maxDelayMs: 8_000,
  multiplier: 2,
  budgetMs: 30_000,
  jitter: true,
};

const RETRIABLE = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalFailure',
  'ServiceUnavailable',
]);

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
            const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
            return RETRIABLE.has(name) || status === undefined || status >= 500;
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
