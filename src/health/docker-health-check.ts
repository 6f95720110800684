import type { Clock } from '../core/clock.js';
import { TaupageError } from '../core/errors.js';
import type { ContainerRuntime } from '../docker/container-runtime.js';
import { waitForHealthy, type HealthProbe } from './http-health-check.js';

/**
 * Docker runs the image's HEALTHCHECK itself (its interval defaults to 30 s); taupage only reads
 * the result, so polling a local inspect every 50 ms growing to 500 ms is cheap and notices the
 * change within half a second.
 */
export const DOCKER_HEALTH_POLL = { initialIntervalMs: 50, maxIntervalMs: 500, multiplier: 1.5 } as const;

export interface WaitForDockerHealthyOptions {
  readonly runtime: Pick<ContainerRuntime, 'inspectContainer'>;
  readonly containerId: string;
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly signal: AbortSignal;
}

/**
 * Waits until Docker reports the container `healthy`. Fails at once on `unhealthy`
 * (CONTAINER_UNHEALTHY), and with HEALTH_CHECK_TIMEOUT when it is still `starting` (or
 * restarting) after the timeout.
 */
export async function waitForDockerHealthy(
  options: WaitForDockerHealthyOptions,
): Promise<{ elapsedMs: number }> {
  const startedAt = options.clock.now();
  let interval: number = DOCKER_HEALTH_POLL.initialIntervalMs;
  for (;;) {
    const info = await options.runtime.inspectContainer(options.containerId, options.signal);
    const elapsedMs = options.clock.now() - startedAt;
    if (info === undefined)
      throw new TaupageError(
        'CONTAINER_FAILED',
        'The container was removed while waiting for its HEALTHCHECK',
      );
    if (info.health === 'healthy') return { elapsedMs };
    if (info.health === 'unhealthy')
      throw new TaupageError(
        'CONTAINER_UNHEALTHY',
        `Docker HEALTHCHECK of the image reported the container unhealthy after ${Math.round(elapsedMs / 1000)} s (see docker inspect ${info.name})`,
      );
    if (elapsedMs >= options.timeoutMs)
      throw new TaupageError(
        'HEALTH_CHECK_TIMEOUT',
        `Docker HEALTHCHECK of the image did not report healthy within ${Math.round(options.timeoutMs / 1000)} s (last: ${info.health ?? 'none'}, container ${info.state})`,
      );
    await options.clock.sleep(Math.min(interval, options.timeoutMs - elapsedMs), options.signal);
    interval = Math.min(DOCKER_HEALTH_POLL.maxIntervalMs, interval * DOCKER_HEALTH_POLL.multiplier);
  }
}

export interface HealthGateOptions {
  /** The HTTP check (`health_check_path`); undefined when not configured. */
  readonly url: string | undefined;
  /** The container, when its image has a HEALTHCHECK; undefined otherwise. */
  readonly dockerHealth: Omit<WaitForDockerHealthyOptions, 'timeoutMs' | 'clock' | 'signal'> | undefined;
  /** `health_check_timeout_seconds`, for both. */
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly signal: AbortSignal;
  readonly probe?: HealthProbe;
}

/**
 * The boot's health gate: the HTTP check, the image's own HEALTHCHECK, or both (both must pass,
 * in parallel, within one timeout; the first failure ends the other). Returns a one-line detail.
 */
export async function waitForHealthGate(options: HealthGateOptions): Promise<string> {
  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  const common = { timeoutMs: options.timeoutMs, clock: options.clock, signal };
  const waits: Promise<string>[] = [];
  const { url, dockerHealth } = options;
  if (url !== undefined)
    waits.push(
      waitForHealthy({
        ...common,
        url,
        ...(options.probe === undefined ? {} : { probe: options.probe }),
      }).then(
        (result) => `HTTP 200 from ${url} after ${result.attempts} probe${result.attempts === 1 ? '' : 's'}`,
      ),
    );
  if (dockerHealth !== undefined)
    waits.push(
      waitForDockerHealthy({ ...common, ...dockerHealth }).then(
        (result) => `Docker HEALTHCHECK healthy after ${(result.elapsedMs / 1000).toFixed(1)} s`,
      ),
    );
  try {
    return (
      await Promise.all(
        waits.map((wait) =>
          wait.catch((error: unknown) => {
            stop.abort();
            throw error;
          }),
        ),
      )
    ).join('; ');
  } finally {
    stop.abort();
  }
}
