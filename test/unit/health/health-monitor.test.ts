import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import type { ContainerInfo } from '../../../src/docker/container-runtime.js';
import { ApplicationHealth, MAX_HEALTH_TRANSITIONS } from '../../../src/health/application-health.js';
import {
  DEFAULT_HEALTH_MONITOR_SETTINGS,
  monitorHealth,
  type HealthMonitorSettings,
} from '../../../src/health/health-monitor.js';
import type { HealthProbe } from '../../../src/health/http-health-check.js';

const URL = 'http://127.0.0.1:8080/health';
const SETTINGS: HealthMonitorSettings = DEFAULT_HEALTH_MONITOR_SETTINGS;

/** A pino logger that keeps every line it writes. */
function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'info' },
    {
      write: (line: string) => {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  return { log, lines };
}

/** The app's answer, switchable from the test; the probe records when it was asked. */
function app() {
  const control = { status: 200 as number | 'hang' | 'refuse', probedAt: [] as number[] };
  const probe: HealthProbe = (_url, signal) => {
    control.probedAt.push(Date.now());
    const answer = control.status;
    if (answer === 'refuse') return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:8080'));
    if (answer === 'hang')
      return new Promise((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          reject(new Error('aborted'));
        });
      });
    return Promise.resolve(answer);
  };
  return { control, probe };
}

/** The state right after a boot whose gate passed. */
function bootedHealth(): ApplicationHealth {
  const health = new ApplicationHealth();
  health.checking(URL, false);
  health.bootGate({ ok: true, detail: `HTTP 200 from ${URL} after 1 probe`, at: Date.now(), durationMs: 1 });
  return health;
}

describe('monitorHealth', () => {
  let stop: AbortController;
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.parse('2026-01-01T00:00:00Z') });
    stop = new AbortController();
  });
  afterEach(() => {
    stop.abort();
    vi.useRealTimers();
  });

  function start(
    health: ApplicationHealth,
    probe: HealthProbe,
    extra: {
      dockerHealth?: () => ContainerInfo['health'];
      settings?: HealthMonitorSettings;
      url?: string | undefined;
    } = {},
  ) {
    const { log, lines } = recordingLog();
    const done = monitorHealth(
      {
        health,
        url: 'url' in extra ? extra.url : URL,
        dockerHealth: extra.dockerHealth,
        settings: extra.settings ?? SETTINGS,
        clock: systemClock,
        log,
        probe,
      },
      stop.signal,
    );
    return { lines, done };
  }

  it('after the boot, a 404 makes it failing after the failure threshold, naming the check, since when and the answer', async () => {
    const health = bootedHealth();
    const { control, probe } = app();
    const { lines } = start(health, probe);
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs * 2);
    expect(control.probedAt).toHaveLength(2);
    expect(health.status).toBe('passing');
    control.status = 404;
    const brokenAt = Date.now();
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs * (SETTINGS.failureThreshold - 1));
    expect(health.status).toBe('passing'); // one failed round is not enough
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs);
    expect(health.status).toBe('failing');
    expect(health.since).toBe(brokenAt + SETTINGS.intervalMs * SETTINGS.failureThreshold);
    expect(Number(health.since) - brokenAt).toBeLessThanOrEqual(30_000);
    const view = health.toJSON();
    expect(view).toMatchObject({
      status: 'failing',
      since: new Date(Number(health.since)).toISOString(),
      url: URL,
      lastResult: { ok: false, detail: `HTTP 404 from ${URL}` },
      consecutiveFailures: SETTINGS.failureThreshold,
      transitionCounts: { passing: 1, failing: 1 },
    });
    expect(view.transitions.map((t) => [t.from, t.to])).toEqual([
      ['unknown', 'passing'],
      ['passing', 'failing'],
    ]);
    const transitions = lines.filter((line) => line.to !== undefined);
    expect(transitions).toEqual([
      expect.objectContaining({
        level: 40,
        from: 'passing',
        to: 'failing',
        url: URL,
        msg: `Health check failing: HTTP 404 from ${URL} (2 in a row)`,
      }),
    ]);
  });

  it('logs one line per transition, not one per probe, and recovers after the success threshold', async () => {
    const health = bootedHealth();
    const { control, probe } = app();
    const { lines } = start(health, probe);
    control.status = 503;
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs * 10);
    expect(health.status).toBe('failing');
    expect(control.probedAt.length).toBe(10);
    control.status = 200;
    const fixedAt = Date.now();
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs * (SETTINGS.successThreshold - 1));
    expect(health.status).toBe('failing');
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs);
    expect(health.status).toBe('passing');
    expect(Number(health.since) - fixedAt).toBeLessThanOrEqual(30_000);
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs * 5);
    const messages = lines.map((line) => line.msg);
    expect(messages.filter((msg) => String(msg).startsWith('Health check'))).toEqual([
      `Health check failing: HTTP 503 from ${URL} (2 in a row)`,
      `Health check passing again: HTTP 200 from ${URL}`,
    ]);
    expect(health.transitionCounts).toEqual({ passing: 2, failing: 1 });
  });

  it('one failed probe between good ones never flips the state', async () => {
    const health = bootedHealth();
    const { control, probe } = app();
    start(health, probe);
    for (let round = 0; round < 6; round++) {
      control.status = round % 2 === 0 ? 500 : 200;
      await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs);
    }
    expect(health.status).toBe('passing');
    expect(health.transitionCounts.failing).toBe(0);
    expect(health.lastResult).toMatchObject({ ok: true });
  });

  it('a probe without an answer fails after the timeout; a refused connection fails at once', async () => {
    const health = bootedHealth();
    const { control, probe } = app();
    const settings = { ...SETTINGS, failureThreshold: 1 };
    start(health, probe, { settings });
    control.status = 'hang';
    await vi.advanceTimersByTimeAsync(settings.intervalMs + settings.timeoutMs - 1);
    expect(health.status).toBe('passing');
    await vi.advanceTimersByTimeAsync(1);
    expect(health.status).toBe('failing');
    expect(health.lastResult?.detail).toBe(`no answer from ${URL} within 5 s`);
    expect(health.lastResult?.durationMs).toBe(settings.timeoutMs);
    control.status = 'refuse';
    await vi.advanceTimersByTimeAsync(settings.intervalMs);
    expect(health.lastResult?.detail).toBe(
      `connection to ${URL} failed: connect ECONNREFUSED 127.0.0.1:8080`,
    );
  });

  it('probes once per interval, start to start, also when a probe is slow', async () => {
    const health = bootedHealth();
    const slow: HealthProbe = async (_url, signal) => {
      await systemClock.sleep(3_000, signal);
      return 200;
    };
    const starts: number[] = [];
    const startedAt = Date.now();
    start(health, async (url, signal) => {
      starts.push(Date.now() - startedAt);
      return slow(url, signal);
    });
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs * 3 + 1);
    expect(starts).toEqual([SETTINGS.intervalMs, SETTINGS.intervalMs * 2, SETTINGS.intervalMs * 3]);
  });

  it("follows the image's Docker HEALTHCHECK state, with or without an HTTP check", async () => {
    const health = new ApplicationHealth();
    health.checking(undefined, true);
    health.bootGate({
      ok: true,
      detail: 'Docker HEALTHCHECK healthy after 1.0 s',
      at: Date.now(),
      durationMs: 1,
    });
    let docker: ContainerInfo['health'] = 'healthy';
    const { probe } = app();
    start(health, probe, { url: undefined, dockerHealth: () => docker });
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs * 3);
    expect(health.status).toBe('passing');
    docker = 'unhealthy';
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs * SETTINGS.failureThreshold);
    expect(health.status).toBe('failing');
    expect(health.lastResult?.detail).toBe('Docker HEALTHCHECK unhealthy');
    expect(health.toJSON()).toMatchObject({ url: undefined, dockerHealthcheck: true });
  });

  it('both checks must pass: a healthy HTTP answer does not hide an unhealthy HEALTHCHECK', async () => {
    const health = bootedHealth();
    const { probe } = app();
    start(health, probe, { dockerHealth: () => 'unhealthy', settings: { ...SETTINGS, failureThreshold: 1 } });
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs);
    expect(health.status).toBe('failing');
    expect(health.lastResult?.detail).toBe('Docker HEALTHCHECK unhealthy');
  });

  it('tells subscribers about each transition until they unsubscribe', async () => {
    const health = bootedHealth();
    const seen: string[] = [];
    const unsubscribe = health.subscribe((status, transition) => {
      seen.push(`${transition.from}->${status}`);
    });
    const { control, probe } = app();
    start(health, probe, { settings: { ...SETTINGS, failureThreshold: 1, successThreshold: 1 } });
    control.status = 500;
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs);
    control.status = 200;
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs);
    unsubscribe();
    control.status = 500;
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs);
    expect(seen).toEqual(['passing->failing', 'failing->passing']);
    expect(health.status).toBe('failing');
  });

  it('keeps the last transitions only, bounded', async () => {
    const health = bootedHealth();
    const { control, probe } = app();
    start(health, probe, { settings: { ...SETTINGS, failureThreshold: 1, successThreshold: 1 } });
    for (let round = 0; round < MAX_HEALTH_TRANSITIONS * 2; round++) {
      control.status = round % 2 === 0 ? 500 : 200;
      await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs);
    }
    const view = health.toJSON();
    expect(view.transitions).toHaveLength(MAX_HEALTH_TRANSITIONS);
    expect(view.transitionCounts).toEqual({
      passing: MAX_HEALTH_TRANSITIONS + 1,
      failing: MAX_HEALTH_TRANSITIONS,
    });
  });

  it('stops probing when aborted, also in the middle of a probe', async () => {
    const health = bootedHealth();
    const { control, probe } = app();
    control.status = 'hang';
    const { done } = start(health, probe);
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs + 1);
    stop.abort();
    await done;
    const probes = control.probedAt.length;
    await vi.advanceTimersByTimeAsync(SETTINGS.intervalMs * 5);
    expect(control.probedAt.length).toBe(probes);
    expect(health.status).toBe('passing');
  });
});
