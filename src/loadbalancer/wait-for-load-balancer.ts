import type { Clock } from '../core/clock.js';
import { isTaupageError, TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { LoadBalancerHealth, LoadBalancerTarget } from './load-balancer-health.js';

/**
 * The original polled the classic ELB every 10 s for up to 300 s before signalling, so a rolling
 * update never moved on before the load balancer really routed to the new instance. Load
 * balancer health checks run every 5–30 s, so polling faster than 5 s only burns API quota.
 */
export const LOAD_BALANCER_WAIT = { pollIntervalMs: 5_000, timeoutMs: 300_000 } as const;

export interface WaitForLoadBalancerOptions {
  readonly health: LoadBalancerHealth;
  readonly target: LoadBalancerTarget;
  readonly instanceId: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly pollIntervalMs?: number;
  readonly timeoutMs?: number;
}

/** Resolves once the load balancer routes to this instance; LOAD_BALANCER_TIMEOUT otherwise. */
export async function waitForLoadBalancer(
  options: WaitForLoadBalancerOptions,
): Promise<{ polls: number; detail: string }> {
  const interval = options.pollIntervalMs ?? LOAD_BALANCER_WAIT.pollIntervalMs;
  const timeout = options.timeoutMs ?? LOAD_BALANCER_WAIT.timeoutMs;
  const startedAt = options.clock.now();
  const name =
    options.target.type === 'elb' ? options.target.loadBalancerName : options.target.targetGroupArn;
  let last: string;
  /** The last poll's error when it failed transiently: the load balancer's view is unknown. */
  let unreachable: TaupageError | undefined;
  for (let polls = 1; ; polls++) {
    try {
      const health = await options.health.targetHealth(options.target, options.instanceId, options.signal);
      last = health.detail;
      unreachable = undefined;
      if (health.state === 'in-service') return { polls, detail: health.detail };
    } catch (error) {
      if (options.signal.aborted || !isTaupageError(error) || !error.retriable) throw error;
      last = error.message;
      unreachable = error;
      options.log.warn({ code: error.code }, `Load balancer not reachable yet: ${error.message}`);
    }
    const elapsed = options.clock.now() - startedAt;
    if (elapsed >= timeout) {
      // An API that did not answer says nothing about the app: restartable, not a verdict.
      if (unreachable !== undefined) throw unreachable;
      throw new TaupageError(
        'LOAD_BALANCER_TIMEOUT',
        `${options.target.type === 'elb' ? 'ELB' : 'Target group'} ${name} did not route to ${options.instanceId} within ${Math.round(timeout / 1000)} s (last: ${last})`,
      );
    }
    await options.clock.sleep(Math.min(interval, timeout - elapsed), options.signal);
  }
}
