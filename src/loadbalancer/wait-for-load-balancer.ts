import type { Clock } from '../core/clock.js';
import { isTaupageError, TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { backoffDelay, type RetryPolicy } from '../core/retry.js';
import { isThrottling } from '../core/throttling.js';
import type { LoadBalancerHealth, LoadBalancerTarget } from './load-balancer-health.js';

/**
 * The original polled the classic ELB every 10 s for up to 300 s before signalling, so a rolling
 * update never moved on before the load balancer really routed to the new instance. Load
 * balancer health checks run every 5–30 s, so polling faster than 5 s only burns API quota.
 */
export const LOAD_BALANCER_WAIT = { pollIntervalMs: 5_000, timeoutMs: 300_000 } as const;

/**
 * Polls are jittered (a random 0.5–1.5× the interval) so a fleet booted together does not ask
 * in lockstep. While the API throttles (per account: every instance of a scale-out polls), the
 * wait doubles from the interval up to 30 s with full jitter (never below the interval), and
 * drops back to the interval after the first answer.
 */
export const LOAD_BALANCER_THROTTLED_MAX_DELAY_MS = 30_000;

/** The wait after a poll: jittered interval, or backoff after `throttled` throttled polls in a row. */
export function loadBalancerPollDelay(intervalMs: number, throttled: number, random: () => number): number {
  if (throttled === 0) return Math.round(intervalMs * (0.5 + random()));
  const policy: RetryPolicy = {
    name: 'load-balancer',
    maxAttempts: Number.POSITIVE_INFINITY,
    initialDelayMs: intervalMs * 2,
    maxDelayMs: Math.max(intervalMs, LOAD_BALANCER_THROTTLED_MAX_DELAY_MS),
    minDelayMs: intervalMs,
    multiplier: 2,
    jitter: true,
  };
  return backoffDelay(policy, throttled, random);
}

export interface WaitForLoadBalancerOptions {
  readonly health: LoadBalancerHealth;
  readonly target: LoadBalancerTarget;
  readonly instanceId: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly pollIntervalMs?: number;
  readonly timeoutMs?: number;
  readonly random?: () => number;
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
  let throttled = 0;
  for (let polls = 1; ; polls++) {
    try {
      const health = await options.health.targetHealth(options.target, options.instanceId, options.signal);
      last = health.detail;
      unreachable = undefined;
      throttled = 0;
      if (health.state === 'in-service') return { polls, detail: health.detail };
    } catch (error) {
      if (options.signal.aborted || !isTaupageError(error) || !error.retriable) throw error;
      last = error.message;
      unreachable = error;
      throttled = isThrottling(error) ? throttled + 1 : 0;
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
    const delay = loadBalancerPollDelay(interval, throttled, options.random ?? Math.random);
    await options.clock.sleep(Math.min(delay, timeout - elapsed), options.signal);
  }
}
