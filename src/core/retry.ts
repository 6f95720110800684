import { abortReason, type Clock } from './clock.js';

/**
 * One retry helper for the whole agent. Each call site passes a named policy (defined next to
 * the adapter that uses it, with a comment saying why those numbers).
 */
export interface RetryPolicy {
  /** Name used in logs ("imds", "kms", "pull"). */
  readonly name: string;
  /** Attempts in total, including the first. */
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Floor under the (jittered) delay; default 0. */
  readonly minDelayMs?: number;
  readonly multiplier: number;
  /** Overall time budget across attempts and waits; no new attempt starts after it. */
  readonly budgetMs?: number;
  /** true: "full jitter" (a random delay in [0, backoff]), which spreads a fleet booting at once. */
  readonly jitter: boolean;
}

export interface RetryOptions {
  readonly clock: Clock;
  readonly isRetriable: (error: unknown) => boolean;
  readonly signal?: AbortSignal | undefined;
  readonly random?: () => number;
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** Delay before attempt `attempt + 1` (attempt counts from 1). Exported for tests and docs. */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number): number {
  const exponential = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** (attempt - 1));
  const delay = Math.round(policy.jitter ? exponential * random() : exponential);
  return Math.max(policy.minDelayMs ?? 0, delay);
}

export async function retry<T>(
  operation: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  options: RetryOptions,
): Promise<T> {
  const random = options.random ?? Math.random;
  const startedAt = options.clock.now();
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw abortReason(options.signal);
    try {
      return await operation(attempt);
    } catch (error) {
      if (options.signal?.aborted || attempt >= policy.maxAttempts || !options.isRetriable(error))
        throw error;
      const delayMs = backoffDelay(policy, attempt, random);
      if (policy.budgetMs !== undefined && options.clock.now() - startedAt + delayMs > policy.budgetMs) {
        throw error;
      }
      options.onRetry?.(error, attempt, delayMs);
      await options.clock.sleep(delayMs, options.signal);
    }
  }
}
