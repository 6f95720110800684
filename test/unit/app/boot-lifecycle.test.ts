import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  boot,
  BOOT_STEPS,
  DEFAULT_STOP_TIMEOUT_SECONDS,
  type BootDependencies,
} from '../../../src/app/boot.js';
import { systemClock } from '../../../src/core/clock.js';
import { Redactor } from '../../../src/core/redactor.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { FakeContainerRuntime } from '../../fakes/fake-container-runtime.js';
import { FakeInstanceMetadata } from '../../fakes/fake-instance-metadata.js';
import { FakeSecretDecrypter } from '../../fakes/fake-secret-decrypter.js';

const IMAGE = 'registry.example.org/team/job:1.0';
const BASE = `#taupage-ami-config\nruntime: Docker\nsource: ${IMAGE}\napplication_id: job\n`;

let metaDir: string;
beforeEach(async () => {
  metaDir = await mkdtemp(join(tmpdir(), 'taupage-boot-lifecycle-'));
});
afterEach(async () => {
  await rm(metaDir, { recursive: true, force: true });
});

function setup(userData: string, runtime = new FakeContainerRuntime(), hostBootedAt?: number) {
  runtime.registry.add(IMAGE);
  const state = new AgentState(new BootTimeline(systemClock, BOOT_STEPS), {
    version: 'test',
    commit: 'test',
    mode: 'ec2',
    startedAt: new Date().toISOString(),
  });
  const deps: BootDependencies = {
    metadata: new FakeInstanceMetadata(userData),
    secretDecrypter: () => new FakeSecretDecrypter(),
    runtime,
    clock: systemClock,
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
    ...(hostBootedAt === undefined ? {} : { hostBootedAt: () => Promise.resolve(hostBootedAt) }),
  };
  return { deps, runtime, state };
}

const signal = new AbortController().signal;

function outcomes(state: AgentState) {
  return state.timeline.steps.map((step) => [step.name, step.outcome]);
}

describe('boot: maintenance', () => {
  it('runs config and kms but neither pulls nor creates a container', async () => {
    const { deps, runtime, state } = setup(`${BASE}maintenance: true\n`);
    const result = await boot(deps, signal);
    expect(result.container).toBeUndefined();
    expect(result.config.maintenance).toBe(true);
    expect(outcomes(state)).toEqual([
      ['imds', 'succeeded'],
      ['config', 'succeeded'],
      ['kms', 'succeeded'],
      // No host preparation wired in these unit tests (test/e2e/host-preparation.test.ts runs it).
      ['host', 'skipped'],
      ['pull', 'skipped'],
      ['container', 'succeeded'],
      ['health', 'skipped'],
      ['loadbalancer', 'skipped'],
    ]);
    expect(runtime.calls.filter((call) => /^(pull|create|start)/.test(call))).toEqual([]);
  });

  it('stops a running app container with docker.stop_timeout and keeps it', async () => {
    const first = setup(BASE);
    const running = await boot(first.deps, signal);
    const { deps, runtime, state } = setup(
      `${BASE}maintenance: true\ndocker:\n  stop_timeout: 42\n`,
      first.runtime,
    );
    await boot(deps, signal);
    expect(runtime.calls).toContain(`stop ${running.container?.id ?? ''}`);
    expect(runtime.stopTimeouts).toEqual([42]);
    expect(runtime.containers.get(running.container?.id ?? '')?.state).toBe('exited');
    expect(state.timeline.steps.find((step) => step.name === 'container')?.detail).toMatch(/\(kept\)$/);
  });
});

describe('boot: docker.stop_timeout when a config change replaces the container', () => {
  it('uses the new config’s stop_timeout, and Docker’s 10 s without one', async () => {
    const first = setup(BASE);
    await boot(first.deps, signal);
    await boot(setup(`${BASE}docker:\n  stop_timeout: 3\n`, first.runtime).deps, signal);
    await boot(setup(`${BASE}application_version: "2"\n`, first.runtime).deps, signal);
    expect(first.runtime.stopTimeouts).toEqual([3, DEFAULT_STOP_TIMEOUT_SECONDS]);
  });
});

describe('boot: an exited container after an agent restart vs. after a reboot', () => {
  async function exitedContainer() {
    const first = setup(BASE);
    const result = await boot(first.deps, signal);
    const id = result.container?.id ?? '';
    const info = first.runtime.containers.get(id);
    if (info === undefined) throw new Error('no container');
    const finishedAt = Date.parse('2026-01-01T12:00:00Z');
    first.runtime.containers.set(id, {
      ...info,
      state: 'exited',
      exitCode: 0,
      finishedAt: new Date(finishedAt).toISOString(),
    });
    return { runtime: first.runtime, id, finishedAt };
  }

  it('leaves a container that exited during this host boot alone (the job ran)', async () => {
    const { runtime, id, finishedAt } = await exitedContainer();
    const { deps, state } = setup(BASE, runtime, finishedAt - 60_000);
    const result = await boot(deps, signal);
    expect(result.container).toMatchObject({ id, state: 'exited' });
    expect(runtime.calls.filter((call) => call === `start ${id}`)).toHaveLength(1); // the first boot's
    expect(state.timeline.steps.find((step) => step.name === 'container')?.detail).toMatch(
      /^left container .* exited \(code 0\) since this host booted$/,
    );
  });

  it('starts it again when it exited before this host boot (a reboot)', async () => {
    const { runtime, id, finishedAt } = await exitedContainer();
    const { deps } = setup(BASE, runtime, finishedAt + 60_000);
    const result = await boot(deps, signal);
    expect(result.container).toMatchObject({ id, state: 'running' });
    expect(runtime.calls.filter((call) => call === `start ${id}`)).toHaveLength(2);
  });
});
