import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONTAINER_START_POLICY } from '../../../src/app/app-container.js';
import { boot, BOOT_STEPS, DOCKER_WAIT_POLICY, type BootDependencies } from '../../../src/app/boot.js';
import type { Clock } from '../../../src/core/clock.js';
import { systemClock } from '../../../src/core/clock.js';
import { TaupageError } from '../../../src/core/errors.js';
import { ExitCode } from '../../../src/core/exit-codes.js';
import { Redactor } from '../../../src/core/redactor.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { FakeContainerRuntime } from '../../fakes/fake-container-runtime.js';
import { FakeInstanceMetadata } from '../../fakes/fake-instance-metadata.js';
import { FakeSecretDecrypter } from '../../fakes/fake-secret-decrypter.js';

// Issue 15, "no transient failure is terminal": the boot's Docker and registry blips.
const IMAGE = 'registry.example.org/team/app:1.0';
const USER_DATA = `#taupage-ami-config
runtime: Docker
source: ${IMAGE}
application_id: kio
application_version: "1.0"
`;

let metaDir: string;
beforeEach(async () => {
  metaDir = await mkdtemp(join(tmpdir(), 'taupage-boot-transient-'));
});
afterEach(async () => {
  await rm(metaDir, { recursive: true, force: true });
});

/** Virtual time: every sleep returns at once and moves `now` on by its length. */
function virtualClock(): Clock & { elapsed: () => number } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    sleep: (ms) => {
      offset += ms;
      return Promise.resolve();
    },
    elapsed: () => offset,
  };
}

function setup(clock: Clock) {
  const runtime = new FakeContainerRuntime();
  runtime.registry.add(IMAGE);
  const state = new AgentState(new BootTimeline(systemClock, BOOT_STEPS), {
    version: 'test',
    commit: 'test',
    mode: 'ec2',
    startedAt: new Date().toISOString(),
  });
  const deps: BootDependencies = {
    metadata: new FakeInstanceMetadata(USER_DATA),
    secretDecrypter: () => new FakeSecretDecrypter(),
    runtime,
    clock,
    log: pino({ level: 'silent' }),
    redactor: new Redactor(),
    state,
    settings: {
      defaults: { root: false },
      metaDir,
      containerName: 'taupageapp',
      applicationUser: '999:999',
      pullInactivityTimeoutMs: 1000,
      healthCheckHost: '127.0.0.1',
    },
  };
  return { deps, runtime, state };
}

const dockerDown = () => new TaupageError('DOCKER_UNAVAILABLE', 'Docker engine did not answer');

describe('boot: Docker not up yet', () => {
  it('waits for the Docker engine with backoff and boots when it answers', async () => {
    const clock = virtualClock();
    const { deps, runtime } = setup(clock);
    runtime.imageExistsFailures = Array.from({ length: 8 }, dockerDown);
    const result = await boot(deps, new AbortController().signal);
    expect(result.container?.state).toBe('running');
    expect(runtime.calls.filter((call) => call.startsWith('imageExists'))).toHaveLength(9);
    expect(clock.elapsed()).toBeLessThanOrEqual(DOCKER_WAIT_POLICY.budgetMs ?? 0);
  });

  it('gives up after its budget with DOCKER_UNAVAILABLE, a restartable exit code', async () => {
    const clock = virtualClock();
    const { deps, runtime } = setup(clock);
    runtime.imageExistsFailures = Array.from({ length: 10_000 }, dockerDown);
    const failure = await boot(deps, new AbortController().signal).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'DOCKER_UNAVAILABLE', exitCode: ExitCode.Unavailable });
    expect(clock.elapsed()).toBeGreaterThan(60_000);
    expect(clock.elapsed()).toBeLessThanOrEqual(DOCKER_WAIT_POLICY.budgetMs ?? 0);
  });

  it('does not wait on a Docker answer that is final', async () => {
    const clock = virtualClock();
    const { deps, runtime } = setup(clock);
    runtime.imageExistsFailures = [new TaupageError('CONTAINER_FAILED', 'Docker refused')];
    await expect(boot(deps, new AbortController().signal)).rejects.toMatchObject({
      code: 'CONTAINER_FAILED',
    });
    expect(runtime.calls.filter((call) => call.startsWith('imageExists'))).toHaveLength(1);
  });
});

const engineError = () =>
  new TaupageError('DOCKER_SERVER_ERROR', 'Docker could not start the container: driver failed programming');

describe('boot: the Docker engine answers create/start with an engine error (5xx)', () => {
  it('retries with capped backoff and boots once the engine starts the container', async () => {
    const clock = virtualClock();
    const { deps, runtime, state } = setup(clock);
    runtime.startFailures = [engineError(), engineError(), engineError()];
    const result = await boot(deps, new AbortController().signal);
    expect(result.container?.state).toBe('running');
    // The first attempt created the container; the retries start that one, never a second.
    expect(runtime.calls.filter((call) => call.startsWith('create'))).toHaveLength(1);
    expect(runtime.calls.filter((call) => call.startsWith('start'))).toHaveLength(4);
    expect(runtime.containers.size).toBe(1);
    expect(clock.elapsed()).toBeLessThanOrEqual(3 * CONTAINER_START_POLICY.maxDelayMs);
    expect(state.timeline.steps.find((step) => step.name === 'container')?.outcome).toBe('succeeded');
  });

  it('gives up within its budget with DOCKER_SERVER_ERROR, a restartable exit code', async () => {
    const clock = virtualClock();
    const { deps, runtime } = setup(clock);
    runtime.startFailures = Array.from({ length: 10_000 }, engineError);
    const failure = await boot(deps, new AbortController().signal).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'DOCKER_SERVER_ERROR', exitCode: ExitCode.Unavailable });
    const starts = runtime.calls.filter((call) => call.startsWith('start')).length;
    expect(starts).toBeGreaterThan(1);
    expect(starts).toBeLessThanOrEqual(CONTAINER_START_POLICY.maxAttempts);
    expect(clock.elapsed()).toBeLessThanOrEqual(CONTAINER_START_POLICY.budgetMs);
  });

  it('does not retry Docker refusing the container (CONTAINER_FAILED)', async () => {
    const clock = virtualClock();
    const { deps, runtime } = setup(clock);
    runtime.startFailures = [
      new TaupageError('CONTAINER_FAILED', 'Docker could not start the container: bad option'),
    ];
    await expect(boot(deps, new AbortController().signal)).rejects.toMatchObject({
      code: 'CONTAINER_FAILED',
    });
    expect(runtime.calls.filter((call) => call.startsWith('start'))).toHaveLength(1);
  });
});
