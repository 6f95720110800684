import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchLogsEmulator } from '../emulators/cloudwatch-logs-emulator.js';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { S3Emulator } from '../emulators/s3-emulator.js';
import { AgentProcess } from '../support/agent-process.js';
import { env, eventually, freePort } from '../support/test-env.js';

const docker = new Docker();
const INSTANCE_ID = 'i-0logs00000000001';
let logs: CloudWatchLogsEmulator;
let workDir: string;
const containerName = `taupage-logs-${randomBytes(4).toString('hex')}`;
const s3ContainerName = `taupage-logs-s3-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  logs = await CloudWatchLogsEmulator.start({ region: 'eu-central-1' });
  workDir = await mkdtemp(join(tmpdir(), 'taupage-logs-e2e-'));
});
afterAll(async () => {
  for (const name of [containerName, s3ContainerName])
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
  await logs.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('cloudwatch_logs: the app container output reaches CloudWatch Logs', () => {
  it('ships the container output (cloudwatch_logs /var/log/application.log) with one stream per instance', async () => {
    const port = await freePort();
    const hostFile = join(workDir, 'host.log');
    const userData = [
      '#taupage-ami-config',
      'runtime: Docker',
      `source: ${env.image}`,
      'ports:',
      `  ${port}: 8080`,
      'health_check_path: /health',
      'cloudwatch_logs:',
      '  /var/log/application.log: app-logs',
      `  ${hostFile}: host-logs`,
      '',
    ].join('\n');
    const imds = await ImdsEmulator.start({
      userData,
      identity: { region: 'eu-central-1', instanceId: INSTANCE_ID },
    });
    const agent = new AgentProcess(
      [
        'agent',
        ...['--imds-url', imds.url, '--cloudwatch-logs-endpoint', logs.url, '--status-listen', '127.0.0.1:0'],
        ...[
          '--meta-dir',
          join(workDir, 'meta'),
          '--defaults',
          '/nonexistent',
          '--container-name',
          containerName,
        ],
      ],
      {
        AWS_ACCESS_KEY_ID: 'AKIDLOGSTEST',
        AWS_SECRET_ACCESS_KEY: 'x',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_CONFIG_FILE: '/nonexistent',
      },
    );
    // busybox httpd -v logs `response:200` on stderr for every request; the health checks are requests.
    const events = await eventually(
      () => {
        const shipped = logs.events('app-logs', INSTANCE_ID);
        return Promise.resolve(
          shipped.some((event) => event.message.includes('response:200')) ? shipped : undefined,
        );
      },
      'the app container output in CloudWatch Logs',
      60_000,
    );
    await appendFile(hostFile, 'host line one\n');
    const hostEvents = await eventually(
      () => {
        const shipped = logs.events('host-logs', INSTANCE_ID);
        return Promise.resolve(shipped.length > 0 ? shipped : undefined);
      },
      'the host file line in CloudWatch Logs',
      30_000,
    );
    expect(hostEvents.map((event) => event.message)).toEqual(['host line one']);
    expect(events.length).toBeGreaterThan(0);
    expect(logs.violations).toEqual([]);
    const status = await agent.status();
    expect((status.logShipping as { destinations: { destination: string }[] }).destinations).toEqual([
      expect.objectContaining({ destination: 'cloudwatch-logs', droppedLines: 0 }),
    ]);
    expect(await agent.stop()).toBe(0);
    expect(agent.output).not.toMatch(/Could not start log shipping/);
    await imds.close();
  });
});

describe('logging: s3 — the app container output reaches S3 as gzip objects', () => {
  it('uploads the container output under taupage/<app>/<version>/application/… and flushes on SIGTERM', async () => {
    const s3 = await S3Emulator.start({
      region: 'eu-west-1',
      credentials: [{ accessKeyId: 'AKIDLOGSTEST', secretAccessKey: 'x' }],
    });
    s3.createBucket('e2e-logs');
    const port = await freePort();
    const userData = [
      '#taupage-ami-config',
      'runtime: Docker',
      `source: ${env.image}`,
      'application_id: hello',
      'application_version: "1.0.3"',
      'ports:',
      `  ${String(port)}: 8080`,
      'health_check_path: /health',
      'logging:',
      '  log_destination: none',
      '  applog_destination: s3',
      '  s3_bucket: e2e-logs',
      '  s3_region: eu-west-1',
      '  s3_timekey: 1h',
      '',
    ].join('\n');
    const imds = await ImdsEmulator.start({
      userData,
      identity: { region: 'eu-central-1', instanceId: INSTANCE_ID },
    });
    const agent = new AgentProcess(
      [
        'agent',
        ...['--imds-url', imds.url, '--s3-logs-endpoint', s3.url, '--status-listen', '127.0.0.1:0'],
        ...['--meta-dir', join(workDir, 'meta-s3'), '--log-state-dir', join(workDir, 'logs-s3')],
        ...['--defaults', '/nonexistent', '--container-name', s3ContainerName],
      ],
      {
        AWS_ACCESS_KEY_ID: 'AKIDLOGSTEST',
        AWS_SECRET_ACCESS_KEY: 'x',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_CONFIG_FILE: '/nonexistent',
      },
    );
    try {
      await agent.status();
      // A one-hour window: nothing is due while the agent runs, so the object comes from the
      // flush on SIGTERM.
      await eventually(
        async () => {
          const response = await fetch(`http://127.0.0.1:${String(port)}/health`).catch(() => undefined);
          return response?.ok === true ? true : undefined;
        },
        'the app answering',
        60_000,
      );
      // The output is read and held (a one-hour window): in the spool, not yet acknowledged.
      await eventually(
        async () => {
          const status = await agent.status();
          const shipping = status.logShipping as { destinations?: { spoolBytes: number }[] } | undefined;
          return (shipping?.destinations?.[0]?.spoolBytes ?? 0) > 0 ? true : undefined;
        },
        'the app output in the spool',
        30_000,
      );
      expect(s3.objects('e2e-logs').size).toBe(0);
      expect(await agent.stop()).toBe(0);
      const objects = [...s3.objects('e2e-logs')];
      expect(objects.length).toBe(1);
      const [key, object] = objects[0] ?? ['', undefined];
      expect(key).toMatch(
        /^taupage\/hello\/1\.0\.3\/application\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/i-0logs00000000001-\d+\.gz$/,
      );
      expect(object?.acl).toBe('bucket-owner-full-control');
      const lines = gunzipSync(object?.body ?? Buffer.alloc(0)).toString('utf8');
      expect(lines).toMatch(/response:200/);
      expect(agent.output).not.toMatch(/Could not start log shipping/);
    } finally {
      await agent.stop();
      await imds.close();
      await s3.stop();
    }
  });
});
