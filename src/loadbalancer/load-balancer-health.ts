/** A load balancer the instance must be serving behind before the boot counts as done. */
export type LoadBalancerTarget =
  | { readonly type: 'elb'; readonly loadBalancerName: string }
  | { readonly type: 'alb'; readonly targetGroupArn: string };

export interface TargetHealth {
  /** in-service: routes traffic; pending: registering/initial checks; out-of-service: failing. */
  readonly state: 'in-service' | 'pending' | 'out-of-service';
  /** What the load balancer said, e.g. "unhealthy: Target.ResponseCodeMismatch". */
  readonly detail: string;
}

/** Port: how a load balancer currently sees this instance. */
export interface LoadBalancerHealth {
  targetHealth(target: LoadBalancerTarget, instanceId: string, signal: AbortSignal): Promise<TargetHealth>;
}
