import type { Clock } from '../core/clock.js';
import { TaupageError } from '../core/errors.js';
import { httpRequest } from '../core/http-request.js';

/**
 * Readiness is detected fast: the first probe goes out at once (as the container starts), then
 * after 2 ms, growing ×1.5 to at most 100 ms, so an app ready t ms after the first probe is seen
 * within t/2 + 2 ms (issue 16: ≤ 20 ms after the container's start for an app that starts at
 * once), and never later than 100 ms plus one request (the original polled every 2 s, adding up
 * to 2 s to every boot). On localhost a probe is cheap: ~10 in the first 100 ms, then 10 a second.
 */
export const HEALTH_POLL = {
  initialIntervalMs: 2,
  maxIntervalMs: 100,
  multiplier: 1.5,
  requestTimeoutMs: 2_000,
} as const;

/** One GET: the status code; rejects when there is no answer within `timeoutMs` (or the default). */
export type HealthProbe = (url: string, signal: AbortSignal, timeoutMs?: number) => Promise<number>;

/**
 * GET the URL and return the status code (redirects are not followed); rejects on connection
 * errors. node:http, not fetch: the first fetch loads undici, 130–200 ms on the boot's path.
 */
export const httpProbe: HealthProbe = async (url, signal, timeoutMs = HEALTH_POLL.requestTimeoutMs) => {
  const response = await httpRequest(url, {
    signal,
    timeoutMs,
    headers: { 'user-agent': 'taupage-health-check' },
    discardBody: true,
  });
  return response.status;
};

export interface WaitForHealthyOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly probe?: HealthProbe;
  /** Called before each wait: lets the caller fail early (e.g. the container exited). */
  readonly check?: () => Promise<void>;
}

export interface HealthResult {
  readonly attempts: number;
  readonly elapsedMs: number;
}

/** Polls until HTTP 200 or the timeout (HEALTH_CHECK_TIMEOUT, naming the last answer). */
export async function waitForHealthy(options: WaitForHealthyOptions): Promise<HealthResult> {
  const probe = options.probe ?? httpProbe;
  const startedAt = options.clock.now();
  let interval: number = HEALTH_POLL.initialIntervalMs;
  let lastAnswer: string;
  for (let attempts = 1; ; attempts++) {
    try {
      const status = await probe(options.url, options.signal);
      if (status === 200) return { attempts, elapsedMs: options.clock.now() - startedAt };
      lastAnswer = `HTTP ${status}`;
    } catch (error) {
      if (options.signal.aborted) throw error;
      lastAnswer = 'connection failed';
    }
    const elapsed = options.clock.now() - startedAt;
    if (elapsed >= options.timeoutMs) {
      throw new TaupageError(
        'HEALTH_CHECK_TIMEOUT',
        `Health check ${options.url} did not return HTTP 200 within ${Math.round(options.timeoutMs / 1000)} s (last: ${lastAnswer})`,
      );
    }
    await options.check?.();
    await options.clock.sleep(Math.min(interval, options.timeoutMs - elapsed), options.signal);
    interval = Math.min(HEALTH_POLL.maxIntervalMs, interval * HEALTH_POLL.multiplier);
  }
}
