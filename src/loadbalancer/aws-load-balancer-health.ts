import {
  DescribeInstanceHealthCommand,
  ElasticLoadBalancingClient,
} from '@aws-sdk/client-elastic-load-balancing';
import {
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { TaupageError } from '../core/errors.js';
import { httpStatusOf, isThrottling } from '../core/throttling.js';
import type { LoadBalancerHealth, LoadBalancerTarget, TargetHealth } from './load-balancer-health.js';

const CALL_TIMEOUT_MS = 10_000;

/**
 * Adapter: classic ELB `DescribeInstanceHealth` and ELBv2 `DescribeTargetHealth` (both the AWS
 * query protocol). One instance can be registered in a target group on several ports; it counts
 * as in service when every registration is healthy.
 */
export class AwsLoadBalancerHealth implements LoadBalancerHealth {
  readonly #elb: ElasticLoadBalancingClient;
  readonly #elbv2: ElasticLoadBalancingV2Client;

  constructor(options: { region: string; endpoint?: string | undefined }) {
    const config = {
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      // The waiter polls anyway: a failed poll is just "not yet".
      maxAttempts: 1,
    };
    this.#elb = new ElasticLoadBalancingClient(config);
    this.#elbv2 = new ElasticLoadBalancingV2Client(config);
  }

  async targetHealth(
    target: LoadBalancerTarget,
    instanceId: string,
    signal: AbortSignal,
  ): Promise<TargetHealth> {
    const abortSignal = AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]);
    try {
      return target.type === 'elb'
        ? await this.#classic(target.loadBalancerName, instanceId, abortSignal)
        : await this.#targetGroup(target.targetGroupArn, instanceId, abortSignal);
    } catch (error) {
      if (error instanceof TaupageError) throw error;
      const name = error instanceof Error ? error.name : 'error';
      const status = httpStatusOf(error);
      // Access denied or a load balancer that does not exist will not fix itself.
      const permanent = status !== undefined && status >= 400 && status < 500 && !isThrottling(error);
      throw new TaupageError('LOAD_BALANCER_UNAVAILABLE', `Asking the load balancer failed (${name})`, {
        cause: error,
        retriable: !permanent,
      });
    }
  }

  async #classic(name: string, instanceId: string, abortSignal: AbortSignal): Promise<TargetHealth> {
    const output = await this.#elb.send(
      new DescribeInstanceHealthCommand({ LoadBalancerName: name, Instances: [{ InstanceId: instanceId }] }),
      { abortSignal },
    );
    const state = output.InstanceStates?.find((candidate) => candidate.InstanceId === instanceId);
    const detail = [state?.State ?? 'not registered', state?.ReasonCode, state?.Description]
      .filter(Boolean)
      .join(': ');
    if (state?.State === 'InService') return { state: 'in-service', detail };
    return {
      state:
        state?.State === 'OutOfService' && state.ReasonCode === 'Instance' ? 'out-of-service' : 'pending',
      detail,
    };
  }

  async #targetGroup(arn: string, instanceId: string, abortSignal: AbortSignal): Promise<TargetHealth> {
    const output = await this.#elbv2.send(
      new DescribeTargetHealthCommand({ TargetGroupArn: arn, Targets: [{ Id: instanceId }] }),
      { abortSignal },
    );
    const mine = (output.TargetHealthDescriptions ?? []).filter(
      (description) => description.Target?.Id === instanceId,
    );
    const states = mine.map((description) => description.TargetHealth?.State ?? 'unavailable');
    const detail =
      mine
        .map((description) =>
          [description.TargetHealth?.State, description.TargetHealth?.Reason].filter(Boolean).join(': '),
        )
        .join(', ') || 'not registered';
    if (states.length > 0 && states.every((state) => state === 'healthy'))
      return { state: 'in-service', detail };
    if (states.includes('unhealthy')) return { state: 'out-of-service', detail };
    return { state: 'pending', detail };
  }
}
