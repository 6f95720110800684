import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import type { ContainerInfo } from '../../../src/docker/container-runtime.js';
import { waitForDockerHealthy, waitForHealthGate } from '../../../src/health/docker-health-check.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const BASE: ContainerInfo = {
  id: 'c0ffee',
  name: 'taupageapp',
  state: 'running',
  exitCode: undefined,
  restartCount: 0,
  oomKilled: false,
  startedAt: undefined,
  finishedAt: undefined,
  health: 'starting',
  labels: {},
  imageId: 'sha256:1',
};

/** A runtime whose container reports `health` as the test sets it. */
function scripted() {
  let info: ContainerInfo | undefined = BASE;
  let inspections = 0;
  return {
    runtime: {
      inspectContainer: () => {
        inspections++;
        return Promise.resolve(info);
      },
    },
    set(change: Partial<ContainerInfo> | undefined) {
      info = change === undefined ? undefined : { ...BASE, ...change };
    },
    get inspections() {
      return inspections;
    },
  };
}

const signal = new AbortController().signal;

describe('waitForDockerHealthy', () => {
  it('resolves once Docker reports healthy', async () => {
    const container = scripted();
    const wait = waitForDockerHealthy({
      runtime: container.runtime,
      containerId: 'c0ffee',
      timeoutMs: 60_000,
      clock: systemClock,
      signal,
    });
    await vi.advanceTimersByTimeAsync(5_000);
    container.set({ health: 'healthy' });
    await vi.advanceTimersByTimeAsync(500);
    await expect(wait).resolves.toMatchObject({ elapsedMs: expect.any(Number) as number });
    expect(container.inspections).toBeGreaterThan(5);
  });

  it('fails at once with CONTAINER_UNHEALTHY when Docker reports unhealthy', async () => {
    const container = scripted();
    container.set({ health: 'unhealthy' });
    await expect(
      waitForDockerHealthy({
        runtime: container.runtime,
        containerId: 'c0ffee',
        timeoutMs: 60_000,
        clock: systemClock,
        signal,
      }),
    ).rejects.toMatchObject({
      code: 'CONTAINER_UNHEALTHY',
      message: expect.stringMatching(/HEALTHCHECK.*unhealthy/) as string,
    });
    expect(container.inspections).toBe(1);
  });

  it('times out with HEALTH_CHECK_TIMEOUT naming the last status', async () => {
    const container = scripted();
    const wait = waitForDockerHealthy({
      runtime: container.runtime,
      containerId: 'c0ffee',
      timeoutMs: 10_000,
      clock: systemClock,
      signal,
    });
    const outcome = expect(wait).rejects.toMatchObject({
      code: 'HEALTH_CHECK_TIMEOUT',
      message:
        'Docker HEALTHCHECK of the image did not report healthy within 10 s (last: starting, container running)',
    });
    await vi.advanceTimersByTimeAsync(10_001);
    await outcome;
  });
});

describe('waitForHealthGate', () => {
  it('requires both the HTTP check and the HEALTHCHECK when both exist', async () => {
    const container = scripted();
    let httpStatus = 200;
    const gate = waitForHealthGate({
      url: 'http://127.0.0.1:8080/health',
      dockerHealth: { runtime: container.runtime, containerId: 'c0ffee' },
      timeoutMs: 60_000,
      clock: systemClock,
      signal,
      probe: () => Promise.resolve(httpStatus),
    });
    let settled = false;
    void gate.finally(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(3_000);
    expect(settled).toBe(false); // HTTP passed, Docker still says starting
    container.set({ health: 'healthy' });
    httpStatus = 503;
    await vi.advanceTimersByTimeAsync(600);
    await expect(gate).resolves.toMatch(
      /^HTTP 200 from http:\/\/127\.0\.0\.1:8080\/health after 1 probe; Docker HEALTHCHECK healthy after \d+\.\d s$/,
    );
  });

  it('fails with the first failure and stops the other wait', async () => {
    const container = scripted();
    let probes = 0;
    const gate = waitForHealthGate({
      url: 'http://127.0.0.1:8080/health',
      dockerHealth: { runtime: container.runtime, containerId: 'c0ffee' },
      timeoutMs: 60_000,
      clock: systemClock,
      signal,
      probe: () => {
        probes++;
        return Promise.resolve(503);
      },
    });
    const outcome = expect(gate).rejects.toMatchObject({ code: 'CONTAINER_UNHEALTHY' });
    await vi.advanceTimersByTimeAsync(1_000);
    container.set({ health: 'unhealthy' });
    await vi.advanceTimersByTimeAsync(600);
    await outcome;
    const after = probes;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(probes).toBe(after);
  });
});
