import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BOOT_STEPS } from '../../../src/app/boot.js';
import { composeAgentAudit, composeBootHooks } from '../../../src/app/compose-audit.js';
import type { AuditSettings } from '../../../src/app/settings.js';
import { verifyAuditChain } from '../../../src/audit/verify-audit-chain.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { writeMetaConfig } from '../../../src/config/meta-file.js';
import type { TaupageConfig } from '../../../src/config/taupage-config.js';
import { systemClock } from '../../../src/core/clock.js';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import { Secret } from '../../../src/core/secret.js';
import type { InstanceIdentity } from '../../../src/metadata/instance-metadata.js';
import { ConfigSecrets } from '../../../src/secrets/decrypt-config-secrets.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { AgentErrorReporter } from '../../../src/status/error-reporter.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { LogSinkEmulator } from '../../emulators/log-sink-emulator.js';
import { eventually } from '../../support/test-env.js';

// What KMS would decrypt these to; the ciphertexts are opaque bytes to everyone else.
const PASSWORD = 'log-sink-pw-9f3a71';
const PASSWORD_CIPHERTEXT = Buffer.from('kms-ciphertext-of-the-log-sink-password');
const DB_PASSWORD = 'db-plain-secret-55c2';
const identity: InstanceIdentity = {
  instanceId: 'i-0a1b2c3d4e5f60718',
  region: 'eu-west-1',
  availabilityZone: 'eu-west-1a',
  accountId: '123456789012',
  privateIp: '10.0.0.7',
  imageId: undefined,
  instanceType: undefined,
  autoScalingGroupName: undefined,
};
const log = createLogger({ level: 'silent', redactor: new Redactor() });

let dir: string;
let logSink: LogSinkEmulator;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-log-sink-'));
  logSink = await LogSinkEmulator.start({ username: 'taupage-host', password: PASSWORD });
});
afterEach(async () => {
  await logSink.stop();
  await rm(dir, { recursive: true, force: true });
});

function userData(url: string): string {
  return [
    '#taupage-ami-config',
    'runtime: Docker',
    'source: registry.example.org/team/app:1.0',
    'application_id: app',
    `instance_logs_url: ${url}`,
    'logsink_username: taupage-host',
    `logsink_password: "aws:kms:${PASSWORD_CIPHERTEXT.toString('base64')}"`,
    'environment:',
    `  DB_PASSWORD: ${DB_PASSWORD}`,
    '  GREETING: hello',
    '',
  ].join('\n');
}

/** What the boot's config step produces: the validated config and /meta/taupage.yaml. */
async function bootConfig(url = logSink.url): Promise<{ config: TaupageConfig; metaDir: string }> {
  const { merged, validation } = loadConfig(Buffer.from(userData(url)), {});
  expect(validation.errors).toEqual([]);
  if (validation.config === undefined) throw new Error('invalid test config');
  const metaDir = join(dir, 'meta');
  await writeMetaConfig(metaDir, merged, undefined);
  return { config: validation.config, metaDir };
}

/** The agent's audit and its boot hooks, as compose.ts builds them (one agent process). */
async function agent(metaDir: string) {
  const settings: AuditSettings = {
    file: join(dir, 'audit.jsonl'),
    shipperStateFile: join(dir, 'state', 'audit-shipper.json'),
    s3: undefined,
    ssh: {
      configFile: join(dir, 'no-granting-service.yaml'),
      grantsFile: join(dir, 'state', 'ssh-grants.json'),
      rootKeysFile: join(dir, 'root-keys'),
      homeBase: undefined,
      killGraceMs: 2_000,
      authLog: undefined,
      sshdRuntimeDir: undefined,
      sshdPidFile: undefined,
    },
  };
  const state = new AgentState(new BootTimeline(systemClock, BOOT_STEPS), {
    version: 'test',
    commit: 'test',
    mode: 'ec2',
    startedAt: new Date().toISOString(),
  });
  const audit = await composeAgentAudit(settings, { clock: systemClock, log, state });
  const hooks = composeBootHooks({
    sshd: undefined,
    audit,
    auditSettings: settings,
    metaDir,
    clock: systemClock,
    log,
    errors: new AgentErrorReporter({ state, redactor: new Redactor(), clock: systemClock, audit }),
  });
  const controller = new AbortController();
  audit.start(controller.signal);
  return { audit, hooks, state, settings, stop: () => audit.stop() };
}

const secrets = new ConfigSecrets(new Map([[PASSWORD_CIPHERTEXT.toString('base64'), new Secret(PASSWORD)]]));
const shippedTrail = () =>
  logSink
    .of('AUDIT_LOG')
    .map((entry) => entry.text)
    .join('');

describe('the audit trail and taupage.yaml to log-sink (instance_logs_url, wired into the boot)', () => {
  it('ships every event continuously and the masked taupage.yaml once per boot, with the KMS password', async () => {
    const { config, metaDir } = await bootConfig();
    const first = await agent(metaDir);
    first.audit.record('agent.boot', { version: 'test' });
    await first.hooks.afterConfig?.(config, identity);
    await first.hooks.afterSecrets?.(config, identity, secrets);

    const userDataUploads = await eventually(
      () => Promise.resolve(logSink.of('USER_DATA').length > 0 ? logSink.of('USER_DATA') : undefined),
      'the taupage.yaml upload',
    );
    const [uploaded] = userDataUploads;
    expect(uploaded).toMatchObject({
      accountId: '123456789012',
      region: 'eu-west-1',
      instanceId: identity.instanceId,
    });
    expect(uploaded?.instanceBootTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
    // aws:kms: values stay ciphertexts; clear values under sensitive names are masked.
    expect(uploaded?.text).toContain(`logsink_password: aws:kms:${PASSWORD_CIPHERTEXT.toString('base64')}`);
    expect(uploaded?.text).toContain('DB_PASSWORD: MASKED');
    expect(uploaded?.text).toContain('GREETING: hello');

    // The event before the sink existed is shipped too, and a new one within seconds.
    const sent = Date.now();
    first.audit.record('ssh.grant', { user: 'alice' });
    await eventually(
      () => Promise.resolve(shippedTrail().includes('"ssh.grant"') ? true : undefined),
      'the grant event at log-sink',
    );
    console.log(`FIGURE audit event -> log-sink accepted: ${Date.now() - sent} ms`);
    await first.stop();
    const local = await readFile(join(dir, 'audit.jsonl'), 'utf8');
    expect(shippedTrail()).toBe(local);
    expect(verifyAuditChain(shippedTrail()).ok).toBe(true);

    // No plaintext secret in any request (Basic auth travels in the header only).
    for (const entry of logSink.received) {
      expect(entry.rawBody).not.toContain(PASSWORD);
      expect(entry.rawBody).not.toContain(DB_PASSWORD);
      expect(entry.text).not.toContain(PASSWORD);
      expect(entry.text).not.toContain(DB_PASSWORD);
    }

    // An agent restart in the same boot: taupage.yaml is not sent again, the trail continues.
    const second = await agent(metaDir);
    await second.hooks.afterConfig?.(config, identity);
    await second.hooks.afterSecrets?.(config, identity, secrets);
    second.audit.record('container.start', { id: 'c1' });
    await eventually(
      () => Promise.resolve(shippedTrail().includes('"container.start"') ? true : undefined),
      'the next event at log-sink',
    );
    await second.stop();
    expect(logSink.of('USER_DATA')).toHaveLength(1);
    expect(shippedTrail()).toBe(await readFile(join(dir, 'audit.jsonl'), 'utf8'));
  });

  it('retries a log-sink that is down, and reports wrong credentials in /status without failing', async () => {
    const { config, metaDir } = await bootConfig();
    logSink.failNext(503, 503);
    const running = await agent(metaDir);
    running.audit.record('agent.boot', { version: 'test' });
    await running.hooks.afterConfig?.(config, identity);
    await running.hooks.afterSecrets?.(config, identity, secrets);
    await eventually(
      () =>
        Promise.resolve(
          logSink.of('AUDIT_LOG').length > 0 && logSink.of('USER_DATA').length > 0 ? true : undefined,
        ),
      'both uploads after the 503s',
      30_000,
    );
    expect(logSink.refused.filter((r) => r.status === 503)).toHaveLength(2);
    await running.stop();

    // The password does not decrypt to what log-sink expects: 401, nothing accepted, and the
    // agent goes on (the trail stays local and ships at the next start).
    const wrong = new ConfigSecrets(new Map([[PASSWORD_CIPHERTEXT.toString('base64'), new Secret('nope')]]));
    const before = logSink.received.length;
    const again = await agent(metaDir);
    await again.hooks.afterSecrets?.(config, identity, wrong);
    again.audit.record('ssh.grant', { user: 'bob' });
    await eventually(
      () => Promise.resolve(logSink.refused.some((r) => r.status === 401) ? true : undefined),
      'log-sink to refuse the credentials',
    );
    await again.stop();
    expect(logSink.received.length).toBe(before);
  }, 60_000);

  it('a config without logsink_password is an error in /status, not a boot failure', async () => {
    const { metaDir } = await bootConfig();
    const { validation } = loadConfig(
      Buffer.from(`runtime: Docker\nsource: r.example.org/a:1\ninstance_logs_url: ${logSink.url}\n`),
      {},
    );
    if (validation.config === undefined) throw new Error('invalid test config');
    const running = await agent(metaDir);
    await running.hooks.afterSecrets?.(validation.config, identity, ConfigSecrets.EMPTY);
    await running.stop();
    expect(running.state.errors.map((e) => e.component)).toEqual(['log-sink']);
    expect(running.state.errors[0]?.message).toContain('logsink_password');
    expect(logSink.received).toHaveLength(0);
  });
});
