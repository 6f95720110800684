import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { ContainerInfo } from '../docker/container-runtime.js';
import type { ApplicationHealth, HealthProbeResult } from './application-health.js';
import { httpProbe, type HealthProbe } from './http-health-check.js';

export interface HealthMonitorSettings {
  /** From the start of one probe round to the start of the next. */
  readonly intervalMs: number;
  /** One HTTP probe without an answer this long counts as failed. */
  readonly timeoutMs: number;
  /** Failed rounds in a row before passing → failing. */
  readonly failureThreshold: number;
  /** Passed rounds in a row before failing → passing. */
  readonly successThreshold: number;
}

/**
 * 10 s / 5 s are what load balancers and Kubernetes probes use (ELB: 30 s / 5 s, Kubernetes:
 * 10 s / 1 s); two rounds in a row either way keep one lost request from flapping the state,
 * and still report a broken app within 20 s (a hung one within 25 s: 10 s + 10 s + a 5 s
 * timeout) and a recovered one within 20 s, inside the 30 s an operator's alert allows.
 */
export const DEFAULT_HEALTH_MONITOR_SETTINGS: HealthMonitorSettings = {
  intervalMs: 10_000,
  timeoutMs: 5_000,
  failureThreshold: 2,
  successThreshold: 2,
};

export interface HealthMonitorOptions {
  readonly health: ApplicationHealth;
  /** The HTTP check (`health_check_path`); undefined: none configured. */
  readonly url: string | undefined;
  /**
   * The image's Docker HEALTHCHECK state as last inspected (the supervisor inspects every 5 s);
   * undefined: the image has none. Docker applies its own interval and retries.
   */
  readonly dockerHealth: (() => ContainerInfo['health']) | undefined;
  readonly settings: HealthMonitorSettings;
  readonly clock: Clock;
  readonly log: Logger;
  readonly probe?: HealthProbe;
}

/**
 * After the boot, for as long as the app runs (until `signal` aborts): probes every
 * `intervalMs` and feeds `health`, which flips after the thresholds. Report only: nothing is
 * restarted here — replacing an unhealthy instance is the load balancer's and the Auto Scaling
 * group's job (docs/operations.md). Logs one line per transition, never one per probe.
 */
export async function monitorHealth(options: HealthMonitorOptions, signal: AbortSignal): Promise<void> {
  const { clock, log, settings, health } = options;
  log.info(
    {
      url: options.url,
      dockerHealthcheck: options.dockerHealth !== undefined,
      intervalMs: settings.intervalMs,
      timeoutMs: settings.timeoutMs,
      failureThreshold: settings.failureThreshold,
      successThreshold: settings.successThreshold,
    },
    'Watching the application health check',
  );
  let roundStartedAt = clock.now();
  for (;;) {
    try {
      await clock.sleep(Math.max(0, roundStartedAt + settings.intervalMs - clock.now()), signal);
    } catch {
      return;
    }
    roundStartedAt = clock.now();
    const result = await probeRound(options, signal);
    if (signal.aborted) return;
    const transition = health.record(result, settings);
    if (transition === undefined) continue;
    const fields = { url: options.url, from: transition.from, to: transition.to, detail: result.detail };
    if (transition.to === 'failing')
      log.warn(
        { ...fields, failures: settings.failureThreshold },
        `Health check failing: ${result.detail} (${settings.failureThreshold} in a row)`,
      );
    else
      log.info(
        { ...fields, successes: settings.successThreshold },
        `Health check passing again: ${result.detail}`,
      );
  }
}

/**
 * After a successful boot: watches what the boot's gate checked (`health.url`, the image's
 * HEALTHCHECK) until `signal` aborts; nothing when there was nothing to check.
 */
export function watchApplicationHealth(
  options: Omit<HealthMonitorOptions, 'url' | 'dockerHealth' | 'settings'> & {
    /** The container as the supervisor last inspected it. */
    readonly container: () => ContainerInfo | undefined;
    readonly settings: HealthMonitorSettings | undefined;
  },
  signal: AbortSignal,
): Promise<void> {
  const { health, container, settings, ...rest } = options;
  if (health.status === 'none') return Promise.resolve();
  return monitorHealth(
    {
      ...rest,
      health,
      url: health.url,
      dockerHealth: health.dockerHealthcheck ? () => container()?.health : undefined,
      settings: settings ?? DEFAULT_HEALTH_MONITOR_SETTINGS,
    },
    signal,
  );
}

/** One round: the HTTP check and the Docker HEALTHCHECK state; both must pass. Never throws. */
export async function probeRound(
  options: HealthMonitorOptions,
  signal: AbortSignal,
): Promise<HealthProbeResult> {
  const { clock } = options;
  const startedAt = clock.now();
  const failures: string[] = [];
  const passes: string[] = [];
  if (options.url !== undefined) {
    const answer = await probeHttp(options, options.url, signal);
    (answer.ok ? passes : failures).push(answer.detail);
  }
  if (options.dockerHealth !== undefined) {
    const state = options.dockerHealth();
    if (state === 'healthy') passes.push('Docker HEALTHCHECK healthy');
    else failures.push(`Docker HEALTHCHECK ${state ?? 'state unknown (container not running?)'}`);
  }
  const at = clock.now();
  return {
    ok: failures.length === 0,
    detail: (failures.length === 0 ? passes : failures).join('; '),
    at,
    durationMs: at - startedAt,
  };
}

async function probeHttp(
  options: HealthMonitorOptions,
  url: string,
  signal: AbortSignal,
): Promise<{ ok: boolean; detail: string }> {
  const { clock, settings } = options;
  const probe = options.probe ?? httpProbe;
  // The deadline runs on the injected clock (fake timers in tests); the request's own timeout
  // (the same length) is a second guard on the real one.
  const done = new AbortController();
  const timedOut = new AbortController();
  void clock.sleep(settings.timeoutMs, AbortSignal.any([signal, done.signal])).then(
    () => {
      timedOut.abort();
    },
    () => undefined,
  );
  try {
    const status = await probe(url, AbortSignal.any([signal, timedOut.signal]), settings.timeoutMs);
    return status === 200
      ? { ok: true, detail: `HTTP 200 from ${url}` }
      : { ok: false, detail: `HTTP ${status} from ${url}` };
  } catch (error) {
    if (timedOut.signal.aborted)
      return { ok: false, detail: `no answer from ${url} within ${formatSeconds(settings.timeoutMs)}` };
    const reason = error instanceof Error ? (error.message.split('\n', 1)[0] ?? '') : '';
    return { ok: false, detail: `connection to ${url} failed${reason === '' ? '' : `: ${reason}`}` };
  } finally {
    done.abort();
  }
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
