import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchLogsEmulator } from '../emulators/cloudwatch-logs-emulator.js';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { KmsEmulator } from '../emulators/kms-emulator.js';
import { AgentProcess } from '../support/agent-process.js';
import { env, eventually, freePort } from '../support/test-env.js';

const docker = new Docker();
const INSTANCE_ID = 'i-0ownlog000000001';
const GROUP = 'taupage-agent';
const containerName = `taupage-own-log-${randomBytes(4).toString('hex')}`;
let logs: CloudWatchLogsEmulator;
let kms: KmsEmulator;
let imds: ImdsEmulator | undefined;
let workDir: string;

beforeAll(async () => {
  logs = await CloudWatchLogsEmulator.start({ region: 'eu-central-1' });
  kms = await KmsEmulator.start({ region: 'eu-central-1' });
  workDir = await mkdtemp(join(tmpdir(), 'taupage-own-log-e2e-'));
});
afterAll(async () => {
  await docker
    .getContainer(containerName)
    .remove({ force: true })
    .catch(() => undefined);
  await imds?.close();
  await logs.close();
  await kms.close();
  await rm(workDir, { recursive: true, force: true });
});

function shipped(): { message: string; line: Record<string, unknown>; timestamp: number }[] {
  return logs.events(GROUP, INSTANCE_ID).map((event) => ({
    message: event.message,
    line: JSON.parse(event.message) as Record<string, unknown>,
    timestamp: event.timestamp,
  }));
}

describe('cloudwatch_logs /var/log/taupage.log: the agent ships its own log', () => {
  it('ships the boot lines logged before the pipeline started, and the shutdown, without the decrypted secret', async () => {
    const secret = `own-log-plaintext-${randomBytes(8).toString('hex')}`;
    const port = await freePort();
    const userData = [
      '#taupage-ami-config',
      'runtime: Docker',
      `source: ${env.image}`,
      'environment:',
      `  DB_PASSWORD: "${kms.encryptForTest(secret)}"`,
      'ports:',
      `  ${String(port)}: 8080`,
      'health_check_path: /health',
      'cloudwatch_logs:',
      `  /var/log/taupage.log: ${GROUP}`,
      '',
    ].join('\n');
    imds = await ImdsEmulator.start({
      userData,
      identity: { region: 'eu-central-1', instanceId: INSTANCE_ID },
    });
    const agent = new AgentProcess(
      [
        'agent',
        ...['--imds-url', imds.url, '--kms-endpoint', kms.url, '--cloudwatch-logs-endpoint', logs.url],
        ...[
          '--status-listen',
          '127.0.0.1:0',
          '--meta-dir',
          join(workDir, 'meta'),
          '--defaults',
          '/nonexistent',
        ],
        ...['--container-name', containerName],
      ],
      {
        AWS_ACCESS_KEY_ID: 'AKIDOWNLOGTEST',
        AWS_SECRET_ACCESS_KEY: 'x',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_CONFIG_FILE: '/nonexistent',
      },
    );
    try {
      const events = await eventually(
        () => {
          const received = shipped();
          return Promise.resolve(
            received.some((event) => String(event.line.msg).startsWith('Boot completed in'))
              ? received
              : undefined,
          );
        },
        'the boot summary in CloudWatch Logs',
        60_000,
      );
      expect(kms.decryptCalls).toBeGreaterThanOrEqual(1);
      const index = (predicate: (line: Record<string, unknown>) => boolean): number =>
        events.findIndex((event) => predicate(event.line));
      // The config step ran long before the pipeline started: it waited in the buffer.
      const configValid = index((line) => line.component === 'config' && line.msg === 'Config valid');
      const shipping = index((line) => line.msg === 'Shipping logs');
      const booted = index((line) => String(line.msg).startsWith('Boot completed in'));
      expect(configValid).toBeGreaterThanOrEqual(0);
      expect(shipping).toBeGreaterThan(configValid);
      expect(booted).toBeGreaterThan(configValid);
      // The record time is when the line was logged (pino's `time`, give or take a millisecond),
      // not when it was shipped.
      const configEvent = events[configValid];
      const loggedAt = Date.parse(String(configEvent?.line.time));
      expect(Math.abs((configEvent?.timestamp ?? 0) - loggedAt)).toBeLessThanOrEqual(5);
      expect(configEvent?.timestamp).toBeLessThan(Date.parse(String(events[shipping]?.line.time)));
      // The journal (stdout) has exactly the same lines, in the same order.
      const stdoutLines = agent.stdout.split('\n').filter((line) => line.startsWith('{'));
      expect(events.map((event) => event.message)).toEqual(stdoutLines.slice(0, events.length));
      expect(logs.streams(GROUP)).toEqual([INSTANCE_ID]);

      expect(await agent.stop()).toBe(0);
      const all = shipped();
      expect(all.some((event) => event.line.msg === 'Shutting down')).toBe(true);
      expect(logs.violations).toEqual([]);
      const everything = `${all.map((event) => event.message).join('\n')}\n${agent.output}`;
      expect(everything).not.toContain(secret);
    } finally {
      await agent.stop();
    }
  });
});

describe('a boot that fails after the kms step still ships its logs', () => {
  it('ships the app output and the agent log up to "Boot failed", flushed before the agent exits', async () => {
    const group = 'taupage-failing-boot';
    const instanceId = 'i-0ownlog000000002';
    const port = await freePort();
    const name = `${containerName}-fail`;
    const failing = await ImdsEmulator.start({
      userData: [
        '#taupage-ami-config',
        'runtime: Docker',
        `source: ${env.image}`,
        'ports:',
        `  ${String(port)}: 8080`,
        // httpd -v logs every request on stderr ("…: response:404"): the failing health checks
        // are the app's output.
        'health_check_path: /not-there',
        'health_check_timeout_seconds: 3',
        'cloudwatch_logs:',
        `  /var/log/application.log: ${group}`,
        `  /var/log/taupage.log: ${group}-agent`,
        '',
      ].join('\n'),
      identity: { region: 'eu-central-1', instanceId },
    });
    const agent = new AgentProcess(
      [
        'agent',
        ...['--imds-url', failing.url, '--kms-endpoint', kms.url, '--cloudwatch-logs-endpoint', logs.url],
        ...[
          '--status-listen',
          '127.0.0.1:0',
          '--meta-dir',
          join(workDir, 'meta-fail'),
          '--defaults',
          '/nonexistent',
        ],
        ...['--container-name', name],
      ],
      {
        AWS_ACCESS_KEY_ID: 'AKIDOWNLOGTEST',
        AWS_SECRET_ACCESS_KEY: 'x',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_CONFIG_FILE: '/nonexistent',
      },
    );
    try {
      // The agent exits on its own (HEALTH_CHECK_TIMEOUT) after flushing the pipeline.
      expect(await agent.exited).toBe(3);
      const app = logs.events(group, instanceId).map((event) => event.message);
      expect(app.some((line) => line.endsWith('response:404'))).toBe(true);
      const own = logs
        .events(`${group}-agent`, instanceId)
        .map((event) => JSON.parse(event.message) as { msg?: string });
      expect(own.some((line) => String(line.msg).startsWith('Boot failed'))).toBe(true);
      expect(logs.violations).toEqual([]);
    } finally {
      await agent.stop();
      await failing.close();
      await docker
        .getContainer(name)
        .remove({ force: true })
        .catch(() => undefined);
    }
  });
});
