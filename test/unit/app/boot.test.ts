import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { boot, BOOT_STEPS, type BootDependencies } from '../../../src/app/boot.js';
import { systemClock } from '../../../src/core/clock.js';
import { TaupageError } from '../../../src/core/errors.js';
import { Redactor } from '../../../src/core/redactor.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { FakeContainerRuntime } from '../../fakes/fake-container-runtime.js';
import { FakeInstanceMetadata } from '../../fakes/fake-instance-metadata.js';
import { FakeSecretDecrypter } from '../../fakes/fake-secret-decrypter.js';

const IMAGE = 'registry.example.org/team/app:1.0';

let metaDir: string;
beforeEach(async () => {
  metaDir = await mkdtemp(join(tmpdir(), 'taupage-boot-'));
});
afterEach(async () => {
  await rm(metaDir, { recursive: true, force: true });
});

function setup(userData: string | undefined) {
  const runtime = new FakeContainerRuntime();
  runtime.registry.add(IMAGE);
  const state = new AgentState(new BootTimeline(systemClock, BOOT_STEPS), {
    version: 'test',
    commit: 'test',
    mode: 'ec2',
    startedAt: new Date().toISOString(),
  });
  const decrypter = new FakeSecretDecrypter();
  const deps: BootDependencies = {
    metadata: new FakeInstanceMetadata(userData),
    secretDecrypter: () => decrypter,
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
  };
  return { deps, runtime, state, decrypter };
}

const userData = `#taupage-ami-config
runtime: Docker
source: ${IMAGE}
application_id: kio
application_version: "1.0"
environment:
  DB_PASSWORD: "${FakeSecretDecrypter.encrypt('s3cr3t-value')}"
  MODE: production
ports:
  8080: 8080
`;

describe('boot', () => {
  it('runs every step in order and creates the container from the config', async () => {
    const { deps, runtime, state } = setup(userData);
    const result = await boot(deps, new AbortController().signal);
    expect(state.timeline.steps.map((step) => [step.name, step.outcome])).toEqual([
      ['imds', 'succeeded'],
      ['config', 'succeeded'],
      ['kms', 'succeeded'],
      // No host preparation wired in these unit tests (test/e2e/host-preparation.test.ts runs it).
      ['host', 'skipped'],
      ['pull', 'succeeded'],
      ['container', 'succeeded'],
      ['health', 'skipped'],
      ['loadbalancer', 'skipped'],
    ]);
    expect(runtime.calls).toEqual([
      `imageExists ${IMAGE}`,
      `pull ${IMAGE}`,
      'find taupageapp',
      'create taupageapp',
      expect.stringMatching(/^start /) as unknown,
    ]);
    const created = runtime.containers.get(result.container?.id ?? '');
    const env = created?.spec?.env.map(
      ({ name, value }) => `${name}=${typeof value === 'string' ? value : value.reveal()}`,
    );
    expect(env).toEqual([
      'DB_PASSWORD=s3cr3t-value',
      'MODE=production',
      'APPLICATION_ID=kio',
      'APPLICATION_VERSION=1.0',
      'CREDENTIALS_DIR=/meta/credentials',
    ]);
    expect(created?.spec?.user).toBe('999');
    expect(created?.spec?.mounts).toEqual([{ source: metaDir, target: '/meta', readOnly: true }]);
    expect(state.container?.state).toBe('running');
  });

  it('prepares the host after kms and before the pull; a failed host step starts no app', async () => {
    const { deps, runtime, state } = setup(userData);
    const seen: string[] = [];
    const failing: BootDependencies = {
      ...deps,
      host: {
        prepare: (config, identity) => {
          seen.push(
            `${config.applicationId ?? ''} ${identity.instanceId} after ${runtime.calls.length} docker calls`,
          );
          return Promise.reject(
            new TaupageError('SYSCTL_INVALID', 'sysctl.net.foo: no such kernel parameter'),
          );
        },
      },
    };
    await expect(boot(failing, new AbortController().signal)).rejects.toThrow('sysctl.net.foo');
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/ after 0 docker calls$/);
    expect(runtime.calls.filter((call) => /^(pull|create|start)/.test(call))).toEqual([]);
    expect(state.timeline.steps.find((step) => step.name === 'host')?.outcome).toBe('failed');
  });

  it('writes taupage.yaml with the ciphertext, never the plaintext', async () => {
    const { deps } = setup(userData);
    await boot(deps, new AbortController().signal);
    const written = await readFile(join(metaDir, 'taupage.yaml'), 'utf8');
    expect(written).toContain('aws:kms:');
    expect(written).toContain('root: false');
    expect(written).not.toContain('s3cr3t-value');
  });

  it('does not pull an image that is already present', async () => {
    const { deps, runtime } = setup(userData);
    runtime.images.add(IMAGE);
    await boot(deps, new AbortController().signal);
    expect(runtime.calls.filter((call) => call.startsWith('pull'))).toEqual([]);
    expect(deps.state.timeline.steps.find((step) => step.name === 'pull')?.detail).toMatch(/already present/);
  });

  it('starts an existing container instead of creating a duplicate (second boot)', async () => {
    const { deps, runtime } = setup(userData);
    const first = await boot(deps, new AbortController().signal);
    await runtime.stopContainer(first.container?.id ?? '', 10);
    const second = setup(userData);
    const again = await boot({ ...second.deps, runtime }, new AbortController().signal);
    expect(again.container?.id).toBe(first.container?.id);
    expect(runtime.containers.size).toBe(1);
    expect(runtime.calls.filter((call) => call.startsWith('create'))).toHaveLength(1);
  });

  it('replaces the container when the config changed since it was created', async () => {
    const { deps, runtime } = setup(userData);
    const first = await boot(deps, new AbortController().signal);
    const changed = setup(userData.replace('MODE: production', 'MODE: staging'));
    const again = await boot({ ...changed.deps, runtime }, new AbortController().signal);
    expect(again.container?.id).not.toBe(first.container?.id);
    expect([...runtime.containers.keys()]).toEqual([again.container?.id]);
    expect(runtime.calls).toContain(`stop ${first.container?.id}`);
    expect(runtime.calls).toContain(`remove ${first.container?.id}`);
    expect(changed.state.timeline.steps.find((step) => step.name === 'container')?.detail).toMatch(
      /^config changed: replaced/,
    );
  });

  it('adopts a running container with the same config without touching it (agent restart)', async () => {
    const { deps, runtime } = setup(userData);
    const first = await boot(deps, new AbortController().signal);
    const callsBefore = runtime.calls.length;
    const again = await boot({ ...setup(userData).deps, runtime }, new AbortController().signal);
    expect(again.container?.id).toBe(first.container?.id);
    expect(
      runtime.calls.slice(callsBefore).filter((call) => /^(stop|remove|create|start) /.test(call)),
    ).toEqual([]);
  });

  it('stops at invalid config: no pull, no container, the step records the error', async () => {
    const { deps, runtime, state } = setup('runtime: Docker\nsource: registry.example.org/team/app:latest\n');
    await expect(boot(deps, new AbortController().signal)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    expect(runtime.calls).toEqual([]);
    expect(state.timeline.steps.find((step) => step.name === 'config')).toMatchObject({
      outcome: 'failed',
      error: { code: 'CONFIG_INVALID', message: expect.stringMatching(/source .*latest/) as unknown },
    });
  });

  it('stops at a KMS failure before anything touches Docker', async () => {
    const { deps, runtime, decrypter } = setup(userData);
    decrypter.failures = [new TaupageError('SECRET_ACCESS_DENIED', 'KMS: access denied')];
    await expect(boot(deps, new AbortController().signal)).rejects.toMatchObject({
      code: 'SECRET_ACCESS_DENIED',
      message: expect.stringContaining('environment.DB_PASSWORD') as unknown,
    });
    expect(runtime.calls).toEqual([]);
  });

  it('fails with USER_DATA_NOT_FOUND when there is no user data', async () => {
    const { deps } = setup(undefined);
    await expect(boot(deps, new AbortController().signal)).rejects.toMatchObject({
      code: 'USER_DATA_NOT_FOUND',
    });
  });
});

describe('boot: pull policy, trust and the load balancer gate', () => {
  it('pulls even a present image with image_pull_policy: always', async () => {
    const { deps, runtime } = setup(`${userData}image_pull_policy: always\n`);
    runtime.images.add(IMAGE);
    await boot(deps, new AbortController().signal);
    expect(runtime.calls).toContain(`pull ${IMAGE}`);
  });

  it('never pulls with image_pull_policy: never, failing when the image is absent', async () => {
    const { deps, runtime } = setup(`${userData}image_pull_policy: never\n`);
    await expect(boot(deps, new AbortController().signal)).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    expect(runtime.calls.filter((call) => call.startsWith('pull'))).toEqual([]);
  });

  it('waits for the load balancer after the health check and records the step', async () => {
    const { deps, state } = setup(`${userData}healthcheck:\n  type: elb\n  loadbalancer_name: kio-lb\n`);
    const answers = ['pending', 'pending', 'in-service'] as const;
    const polls: string[] = [];
    // A clock whose waits end at once: the poll interval is not what this test is about.
    const instantClock = { now: () => Date.now(), sleep: () => Promise.resolve() };
    await boot(
      {
        ...deps,
        clock: instantClock,
        loadBalancerHealth: () => ({
          targetHealth: (target, instanceId) => {
            polls.push(
              `${target.type}:${target.type === 'elb' ? target.loadBalancerName : ''}:${instanceId}`,
            );
            const state = answers[Math.min(polls.length - 1, answers.length - 1)] ?? 'pending';
            return Promise.resolve({ state, detail: state });
          },
        }),
      },
      new AbortController().signal,
    );
    expect(polls).toEqual(['elb:kio-lb:i-0fake', 'elb:kio-lb:i-0fake', 'elb:kio-lb:i-0fake']);
    expect(state.timeline.steps.find((step) => step.name === 'loadbalancer')).toMatchObject({
      outcome: 'succeeded',
      detail: 'in service after 3 polls: in-service',
    });
  });
});
