import { mkdtemp, rm } from 'node:fs/promises';
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

// The boot's kms step: every aws:kms: value of the config, not only environment.
const IMAGE = 'registry.example.org/team/app:1.0';
let metaDir: string;
beforeEach(async () => {
  metaDir = await mkdtemp(join(tmpdir(), 'taupage-boot-kms-'));
});
afterEach(async () => {
  await rm(metaDir, { recursive: true, force: true });
});

function setup(userData: string) {
  const runtime = new FakeContainerRuntime();
  runtime.registry.add(IMAGE);
  const decrypter = new FakeSecretDecrypter();
  const redactor = new Redactor();
  const state = new AgentState(new BootTimeline(systemClock, BOOT_STEPS), {
    version: 'test',
    commit: 'test',
    mode: 'ec2',
    startedAt: new Date().toISOString(),
  });
  const deps: BootDependencies = {
    metadata: new FakeInstanceMetadata(userData),
    secretDecrypter: () => decrypter,
    runtime,
    clock: systemClock,
    log: pino({ level: 'silent' }),
    redactor,
    state,
    settings: {
      defaults: {},
      metaDir,
      containerName: 'taupageapp',
      applicationUser: '999:999',
      pullInactivityTimeoutMs: 1000,
      healthCheckHost: '127.0.0.1',
    },
  };
  return { deps, runtime, decrypter, redactor, state };
}

describe('boot: generic aws:kms: decryption', () => {
  it('decrypts an encrypted dockercfg auth and pulls with it', async () => {
    const auth = Buffer.from('robot:registry-password').toString('base64');
    const { deps, runtime, redactor, state } = setup(
      `#taupage-ami-config\nruntime: Docker\nsource: ${IMAGE}\ndockercfg:\n  https://registry.example.org:\n    auth: "${FakeSecretDecrypter.encrypt(auth)}"\nenvironment:\n  TOKEN: "${FakeSecretDecrypter.encrypt('t0ken-value')}"\n`,
    );
    await boot(deps, new AbortController().signal);
    expect(runtime.calls).toContain(`pull ${IMAGE} as robot`);
    expect(redactor.scrub('registry-password t0ken-value')).toBe('[redacted] [redacted]');
    expect(state.timeline.steps.find((step) => step.name === 'kms')?.detail).toBe(
      'decrypted 2 values (2 KMS calls)',
    );
  });

  it('boots when a value under an ignored key cannot be decrypted', async () => {
    const { deps, decrypter, state } = setup(
      `#taupage-ami-config\nruntime: Docker\nsource: ${IMAGE}\nnewrelic_account_key: "${FakeSecretDecrypter.encrypt('nr')}"\n`,
    );
    decrypter.failures = [new TaupageError('SECRET_ACCESS_DENIED', 'KMS: access denied')];
    await boot(deps, new AbortController().signal);
    expect(state.timeline.steps.find((step) => step.name === 'kms')?.detail).toBe(
      'decrypted 0 values (1 KMS call); 1 under ignored keys could not be decrypted',
    );
  });
});
