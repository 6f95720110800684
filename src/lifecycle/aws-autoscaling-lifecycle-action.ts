import {
  AutoScalingClient,
  AutoScalingServiceException,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import { TaupageError, firstLine } from '../core/errors.js';
import type { LifecycleActionCompleter } from './lifecycle-action.js';

export interface AutoScalingLifecycleOptions {
  readonly region: string;
  /** Tests: the Auto Scaling emulator. */
  readonly endpoint?: string | undefined;
}

/** Answers that a retry cannot change: the request itself is refused. */
const PERMANENT = new Set([
  'ValidationError',
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
]);

/**
 * Adapter: Auto Scaling's query API. The SDK's standard retries (3 attempts) cover throttling;
 * the drain bounds the whole call with its own deadline.
 */
export class AwsAutoScalingLifecycleAction implements LifecycleActionCompleter {
  readonly #client: AutoScalingClient;

  constructor(options: AutoScalingLifecycleOptions, client?: AutoScalingClient) {
    this.#client =
      client ??
      new AutoScalingClient({
        region: options.region,
        ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      });
  }

  destroy(): void {
    this.#client.destroy();
  }

  async complete(
    action: { hookName: string; instanceId: string; autoScalingGroupName: string | undefined },
    signal: AbortSignal,
  ): Promise<void> {
    try {
      const group = action.autoScalingGroupName ?? (await this.#groupOf(action.instanceId, signal));
      await this.#client.send(
        new CompleteLifecycleActionCommand({
          LifecycleHookName: action.hookName,
          AutoScalingGroupName: group,
          InstanceId: action.instanceId,
          LifecycleActionResult: 'CONTINUE',
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      if (error instanceof TaupageError || signal.aborted) throw error;
      const name = error instanceof AutoScalingServiceException ? error.name : (error as Error).name;
      const detail = error instanceof AutoScalingServiceException ? `: ${firstLine(error.message)}` : '';
      throw new TaupageError(
        'LIFECYCLE_ACTION_FAILED',
        `CompleteLifecycleAction of hook ${action.hookName} for ${action.instanceId} failed (${name}${detail})`,
        { cause: error, retriable: !PERMANENT.has(name) },
      );
    }
  }

  /** The instance's group (instance tags in IMDS are optional, this needs autoscaling:DescribeAutoScalingInstances). */
  async #groupOf(instanceId: string, signal: AbortSignal): Promise<string> {
    const output = await this.#client.send(
      new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }),
      {
        abortSignal: signal,
      },
    );
    const group = output.AutoScalingInstances?.[0]?.AutoScalingGroupName;
    if (group === undefined)
      throw new TaupageError('LIFECYCLE_ACTION_FAILED', `${instanceId} is not in an Auto Scaling group`, {
        retriable: false,
      });
    return group;
  }
}
