import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutoScalingEmulator } from '../emulators/autoscaling-emulator.js';
import { CloudWatchLogsEmulator } from '../emulators/cloudwatch-logs-emulator.js';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { S3Emulator } from '../emulators/s3-emulator.js';
import { AgentProcess } from '../support/agent-process.js';
import { env, eventually, freePort } from '../support/test-env.js';

/*
 * The host step and what follows the boot, with the built agent as a process: mint_bucket
 * credentials from S3 into /meta/credentials before the app starts (readable by the app user
 * inside the container, by nobody else), then a spot interruption notice in IMDS: the app is
 * stopped with its stop timeout (its own TERM handler runs), its last line is shipped to
 * CloudWatch Logs, and /status reports each drain step.
 */

const execFileAsync = promisify(execFile);
const docker = new Docker();
const INSTANCE_ID = 'i-0e2e0000000000host';
const BUCKET = 'mint-e2e-host';
const APP = 'e2e-host';
const ACCESS_KEY = 'AKIDHOSTE2E';
const SECRET_KEY = 'host-e2e-secret-key';
// What the app's credentials say: it must reach the container, never the agent's output.
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;

let workDir: string;
let s3: S3Emulator;
let logs: CloudWatchLogsEmulator;
let imds: ImdsEmulator;
let agent: AgentProcess;
let image: string;
const containerName = `taupage-e2e-host-${randomBytes(4).toString('hex')}`;

interface Status {
  boot: { state: string; steps: { name: string; outcome: string; detail: string | null }[] };
  container: { state: string } | null;
  lifecycle: {
    termination: { notice: string; steps: { step: string; outcome: string }[] } | null;
  } | null;
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'taupage-e2e-host-'));
  s3 = await S3Emulator.start({
    region: 'eu-central-1',
    credentials: [{ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }],
  });
  s3.createBucket(BUCKET);
  s3.storeObject(
    BUCKET,
    `${APP}/user.json`,
    JSON.stringify({ application_username: APP, application_password: PASSWORD }),
  );
  s3.storeObject(BUCKET, `${APP}/client.json`, JSON.stringify({ client_id: APP, client_secret: 'c' }));
  logs = await CloudWatchLogsEmulator.start({ region: 'eu-central-1' });

  // The app says goodbye on SIGTERM: that line is the last it writes, shipped only by the drain.
  const tag = randomBytes(4).toString('hex');
  const repo = `${env.registry}/taupage-test/e2e-host`;
  const base = await docker.createContainer({ Image: env.image, Cmd: ['true'] });
  const script =
    'trap "echo app-stopped-cleanly; exit 0" TERM; httpd -f -p 8080 -h /www & echo app-started; wait';
  try {
    await base.commit({ repo, tag, changes: [`CMD ["/bin/sh","-c",${JSON.stringify(script)}]`] });
  } finally {
    await base.remove({ force: true });
  }
  image = `${repo}:${tag}`;

  const port = await freePort();
  const userData = [
    '#taupage-ami-config',
    'runtime: Docker',
    `source: ${image}`,
    `application_id: ${APP}`,
    'application_version: "1.0"',
    `mint_bucket: ${BUCKET}`,
    'ports:',
    `  ${port}: 8080`,
    'health_check_path: /',
    'docker:',
    '  stop_timeout: 5',
    'cloudwatch_logs:',
    '  /var/log/application.log: app-logs',
    '',
  ].join('\n');
  imds = await ImdsEmulator.start({
    userData,
    identity: { region: 'eu-central-1', instanceId: INSTANCE_ID },
  });
  agent = new AgentProcess(
    [
      'agent',
      ...['--imds-url', imds.url, '--status-listen', '127.0.0.1:0', '--lifecycle-poll', '1'],
      ...['--s3-endpoint', s3.url, '--cloudwatch-logs-endpoint', logs.url],
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
      AWS_ACCESS_KEY_ID: ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SECRET_KEY,
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      AWS_CONFIG_FILE: '/nonexistent',
    },
  );
});

afterAll(async () => {
  agent.signal('SIGKILL');
  await agent.exited;
  await docker
    .getContainer(containerName)
    .remove({ force: true })
    .catch(() => undefined);
  await docker
    .getImage(image)
    .remove({ force: true })
    .catch(() => undefined);
  await imds.close();
  await s3.stop();
  await logs.close();
  await rm(workDir, { recursive: true, force: true });
});

async function statusUntil(what: string, test: (status: Status) => boolean): Promise<Status> {
  return eventually(
    async () => {
      const status = (await agent.status()) as unknown as Status;
      return test(status) ? status : undefined;
    },
    what,
    60_000,
  );
}

describe('host step: mint_bucket credentials before the app starts', () => {
  it('downloads user.json and client.json into /meta/credentials, readable by the app user only', async () => {
    const status = await statusUntil('the boot to finish', (s) => s.boot.state !== 'booting');
    expect(status.boot.state).toBe('succeeded');
    const host = status.boot.steps.find((step) => step.name === 'host');
    expect(host?.outcome).toBe('succeeded');
    expect(host?.detail).toContain(`credentials from s3://${BUCKET}/${APP}/`);

    const file = join(workDir, 'meta', 'credentials', 'user.json');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      application_username: APP,
      application_password: PASSWORD,
    });
    const info = await stat(file);
    expect(info.mode & 0o777).toBe(0o600);
    expect(`${info.uid}:${info.gid}`).toBe('999:999');

    // The app (uid 999) reads them through the read-only /meta mount, at CREDENTIALS_DIR.
    const { stdout } = await execFileAsync('docker', [
      'exec',
      containerName,
      'sh',
      '-c',
      'id -u; cat "$CREDENTIALS_DIR/user.json"',
    ]);
    const [uid, json] = stdout.split('\n');
    expect(uid).toBe('999');
    expect(JSON.parse(json ?? '')).toMatchObject({ application_password: PASSWORD });
  });
});

describe('spot interruption: drain', () => {
  it('stops the app gracefully, ships its last line and reports each step in /status', async () => {
    imds.setSpotInstanceAction({
      action: 'terminate',
      time: new Date(Date.now() + 120_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    });
    const status = await statusUntil(
      'the drain to finish',
      (s) => (s.lifecycle?.termination?.steps.length ?? 0) > 0,
    );
    expect(status.lifecycle?.termination?.notice).toMatch(/^spot terminate at /);
    expect(
      Object.fromEntries(status.lifecycle?.termination?.steps.map((s) => [s.step, s.outcome]) ?? []),
    ).toEqual({
      'stop-app': 'done',
      'flush-logs': 'done',
      'flush-audit': 'done',
      'complete-lifecycle-action': 'skipped',
    });

    // Stopped by SIGTERM within its stop timeout: the app's own handler ran and exited 0.
    const inspect = await docker.getContainer(containerName).inspect();
    expect(inspect.State.Running).toBe(false);
    expect(inspect.State.ExitCode).toBe(0);
    // Its last line was shipped by the drain, not left in the spool.
    const shipped = logs.events('app-logs', INSTANCE_ID).map((event) => event.message);
    expect(shipped).toContain('app-started');
    expect(shipped).toContain('app-stopped-cleanly');
  });

  it('never shows the credentials in the agent output or status', async () => {
    const status = JSON.stringify(await agent.status());
    expect(status).not.toContain(PASSWORD);
    expect(agent.stdout).not.toContain(PASSWORD);
    expect(agent.stderr).not.toContain(PASSWORD);
  });
});

describe('Auto Scaling termination: drain, then complete the lifecycle hook', () => {
  it('stops the app and completes lifecycle_hook with CONTINUE only after the drain', async () => {
    const autoscaling = await AutoScalingEmulator.start({ region: 'eu-central-1' });
    const group = 'e2e-host-asg';
    const instanceId = 'i-0e2e000000000asg1';
    const name = `taupage-e2e-asg-${randomBytes(4).toString('hex')}`;
    autoscaling.createGroup(group, [{ name: 'drain-hook', transition: 'terminating' }]);
    autoscaling.addInstance(group, instanceId);
    const asgImds = await ImdsEmulator.start({
      userData: [
        '#taupage-ami-config',
        'runtime: Docker',
        `source: ${env.image}`,
        'application_id: e2e-asg',
        'lifecycle_hook: drain-hook',
        // busybox httpd as PID 1 ignores SIGTERM: Docker kills it after the stop timeout.
        'docker:',
        '  stop_timeout: 1',
        '',
      ].join('\n'),
      identity: { region: 'eu-central-1', instanceId },
      // The group comes from the instance tag, as when IMDS shows tags.
      tags: { 'aws:autoscaling:groupName': group },
    });
    const asgAgent = new AgentProcess(
      [
        'agent',
        ...['--imds-url', asgImds.url, '--status-listen', '127.0.0.1:0', '--lifecycle-poll', '1'],
        ...['--autoscaling-endpoint', autoscaling.url],
        ...['--meta-dir', join(workDir, 'meta-asg'), '--defaults', '/nonexistent', '--container-name', name],
      ],
      {
        AWS_ACCESS_KEY_ID: ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY: SECRET_KEY,
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_CONFIG_FILE: '/nonexistent',
      },
    );
    try {
      await eventually(
        async () => ((await asgAgent.status()) as unknown as Status).boot.state === 'succeeded' || undefined,
        'the boot to succeed',
        60_000,
      );
      autoscaling.beginTermination(group, instanceId);
      asgImds.setTargetLifecycleState('Terminated');
      const status = await eventually(
        async () => {
          const current = (await asgAgent.status()) as unknown as Status;
          return (current.lifecycle?.termination?.steps.length ?? 0) > 0 ? current : undefined;
        },
        'the drain to finish',
        60_000,
      );
      expect(status.lifecycle?.termination?.notice).toBe('autoscaling target state Terminated');
      expect(status.lifecycle?.termination?.steps.map((step) => [step.step, step.outcome])).toEqual([
        ['stop-app', 'done'],
        ['flush-logs', 'done'],
        ['flush-audit', 'done'],
        ['complete-lifecycle-action', 'done'],
      ]);
      expect((await docker.getContainer(name).inspect()).State.Running).toBe(false);
      expect(autoscaling.completed).toEqual([{ hook: 'drain-hook', group, instanceId, result: 'CONTINUE' }]);
      expect(autoscaling.lifecycleState(group, instanceId)).not.toBe('Terminating:Wait');
    } finally {
      asgAgent.signal('SIGKILL');
      await asgAgent.exited;
      await docker
        .getContainer(name)
        .remove({ force: true })
        .catch(() => undefined);
      await asgImds.close();
      await autoscaling.close();
    }
  });
});
