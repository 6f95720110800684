import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from '../../../src/app/agent.js';
import { composeAgent } from '../../../src/app/compose.js';
import { platformFor } from '../../../src/app/platform.js';
import type { CommonAgentSettings, Ec2AgentSettings, LocalAgentSettings } from '../../../src/app/settings.js';
import { systemClock } from '../../../src/core/clock.js';
import { NullHostPower } from '../../../src/lifecycle/null-host-power.js';
import { RecordingHostPower } from '../../../src/lifecycle/recording-host-power.js';
import { SystemdHostPower } from '../../../src/lifecycle/systemd-host-power.js';
import pino from 'pino';
import { encryptWithDevKey, loadOrCreateDevKey } from '../../../src/secrets/local-dev-key.js';
import { FAKE_IDENTITY } from '../../fakes/fake-instance-metadata.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-compose-unit-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function common(): CommonAgentSettings {
  return {
    defaultsFile: undefined,
    metaDir: join(dir, 'meta'),
    statusHost: '127.0.0.1',
    statusPort: 0,
    containerName: 'taupage-compose-unit',
    applicationUser: '999:999',
    pullInactivityTimeoutMs: 1000,
    healthMonitor: { intervalMs: 10_000, timeoutMs: 5_000, failureThreshold: 2, successThreshold: 2 },
    logStateDir: join(dir, 'logs'),
    supervisorStateFile: join(dir, 'container.json'),
    host: {
      scope: 'app-only',
      customLogDir: join(dir, 'log-custom'),
      s3Endpoint: undefined,
      ec2Endpoint: undefined,
      autoScalingEndpoint: undefined,
      lifecyclePollSeconds: 5,
    },
    logLevel: 'silent',
  };
}

function ec2(overrides: Partial<Ec2AgentSettings> = {}): Ec2AgentSettings {
  return {
    ...common(),
    mode: 'ec2',
    imdsUrl: 'http://127.0.0.1:1',
    imdsBudgetMs: 1000,
    kmsEndpoint: undefined,
    cloudFormationEndpoint: undefined,
    ecrEndpoint: undefined,
    elbEndpoint: undefined,
    identityDocumentRegistries: ['pierone.example.org'],
    requireTrustedImages: false,
    hostPower: 'systemd',
    bootMarkerDir: join(dir, 'boot-marker'),
    ...overrides,
  };
}

function local(keepContainer = false): LocalAgentSettings {
  return {
    ...common(),
    mode: 'local',
    local: {
      configFile: join(dir, 'taupage.yaml'),
      region: 'eu-west-1',
      devKeyFile: join(dir, 'dev.key'),
      keepContainer,
    },
  };
}

const log = pino({ level: 'silent' });

describe('EC2 platform', () => {
  it('hands out the AWS adapters, tees the agent log and keeps the app on exit', () => {
    const platform = platformFor(ec2(), systemClock);
    expect(platform.mode).toBe('ec2');
    expect(platform.agentLog).toBeDefined();
    expect(platform.registries?.identityDocumentRegistries).toEqual(new Set(['pierone.example.org']));
    expect(platform.registries?.trustPolicy).toBeUndefined();
    expect(platform.loadBalancerHealth).toBeDefined();
    expect(platform.createStackSignaller).toBeDefined();
    expect(platform.localLogFileDir).toBeUndefined();
    expect(platform.removeContainerOnExit).toBe(false);
    expect(platform.metadata({ clock: systemClock, log }).host).toBeDefined();
  });

  it('completes a lifecycle hook only when the config names one', () => {
    const platform = platformFor(ec2(), systemClock);
    const config = { lifecycleHook: undefined } as const;
    expect(platform.lifecycleAction?.(config as never, FAKE_IDENTITY)).toBeUndefined();
    expect(platform.lifecycleAction?.({ lifecycleHook: 'drain' } as never, FAKE_IDENTITY)).toBeTypeOf(
      'function',
    );
  });

  it('picks the host power adapter from --host-power', () => {
    expect(platformFor(ec2(), systemClock).hostPower(log)).toBeInstanceOf(SystemdHostPower);
    expect(platformFor(ec2({ hostPower: 'off' }), systemClock).hostPower(log)).toBeInstanceOf(NullHostPower);
    expect(
      platformFor(ec2({ hostPower: `record:${join(dir, 'power')}` }), systemClock).hostPower(log),
    ).toBeInstanceOf(RecordingHostPower);
  });

  it('marks the host boot once: a restarted agent gets the first start time', async () => {
    const platform = platformFor(ec2(), systemClock);
    const first = await platform.hostBootStartedAt(Date.parse('2026-01-01T00:00:00Z'), log);
    const second = await platform.hostBootStartedAt(Date.parse('2026-01-01T01:00:00Z'), log);
    expect(first).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(second).toBe(first);
    expect(await readFile(join(dir, 'boot-marker', 'date'), 'utf8')).toBe('2026-01-01T00:00:00+00:00\n');
  });
});

describe('local platform', () => {
  it('has no AWS at all, no agent log tee, no host metadata, and never powers the laptop off', () => {
    const platform = platformFor(local(), systemClock);
    expect(platform.mode).toBe('local');
    expect(platform.agentLog).toBeUndefined();
    expect(platform.registries).toBeUndefined();
    expect(platform.loadBalancerHealth).toBeUndefined();
    expect(platform.createStackSignaller).toBeUndefined();
    expect(platform.lifecycleAction).toBeUndefined();
    expect(platform.metadata({ clock: systemClock, log }).host).toBeUndefined();
    expect(platform.hostPower(log)).toBeInstanceOf(NullHostPower);
    expect(platform.localLogFileDir).toBe(join(dir, 'logs'));
  });

  it('removes the app on exit unless --keep-container', () => {
    expect(platformFor(local(), systemClock).removeContainerOnExit).toBe(true);
    expect(platformFor(local(true), systemClock).removeContainerOnExit).toBe(false);
  });

  it('counts every start as a host boot', async () => {
    expect(await platformFor(local(), systemClock).hostBootStartedAt(Date.now(), log)).toBeUndefined();
  });

  it('decrypts aws:kms: values with the local dev key', async () => {
    const key = await loadOrCreateDevKey(join(dir, 'dev.key'));
    const ciphertext = encryptWithDevKey(key, 'local-secret').replace(/^aws:kms:/, '');
    const decrypter = (await platformFor(local(), systemClock).secretDecrypter())(FAKE_IDENTITY);
    const secret = await decrypter.decrypt(Buffer.from(ciphertext, 'base64'), AbortSignal.timeout(1000));
    expect(secret.reveal()).toBe('local-secret');
  });
});

describe('composeAgent', () => {
  it.each([
    ['ec2', () => ec2()],
    ['local', () => local()],
  ] as const)('builds the %s agent without touching the network', async (_mode, settings) => {
    const { agent } = await composeAgent(settings(), Date.now());
    expect(agent).toBeInstanceOf(Agent);
    // Docker's default stop timeout until a config says otherwise.
    expect(agent.shutdownDeadlineMs).toBe(40_000);
    expect(agent.failure).toBeUndefined();
  });
});
