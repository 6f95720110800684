import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASKED } from '../../src/etcd/registration-document.js';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { KmsEmulator } from '../emulators/kms-emulator.js';
import { EtcdServer } from '../integration/etcd/etcd-server.js';
import { AgentProcess } from '../support/agent-process.js';
import { env, eventually, freePort, testEnv } from '../support/test-env.js';

// The built agent with what the original's users relied on around the app (issue 19): the etcd
// heartbeat on a real etcd, ETCD_URL and True/False in the container, /var/log/application.log.
const docker = new Docker();
let kms: KmsEmulator;
let etcd: EtcdServer;
let imds: ImdsEmulator;
let agent: AgentProcess;
let workDir: string;
const containerName = `taupage-e2e-orig-${randomBytes(4).toString('hex')}`;
const secret = `orig-plaintext-${randomBytes(8).toString('hex')}`;
const token = `orig-token-${randomBytes(8).toString('hex')}`;
const applicationLog = () => join(workDir, 'var-log', 'application.log');
// The test env's dockerd (the AMI's writes /var/run/docker.pid).
const dockerPidFile = () => join(testEnv('TAUPAGE_TEST_ENV_DIR'), 'dockerd.pid');

beforeAll(async () => {
  kms = await KmsEmulator.start({ region: 'eu-central-1' });
  etcd = await EtcdServer.start();
  workDir = await mkdtemp(join(tmpdir(), 'taupage-e2e-orig-'));
  const hostPort = await freePort();
  imds = await ImdsEmulator.start({
    userData: [
      '#taupage-ami-config',
      'runtime: Docker',
      'application_id: orig-app',
      'application_version: "1.0"',
      `source: ${env.image}`,
      'etcd_discovery_domain: disable',
      'hystrix: ":7979/hystrix.stream"',
      `my_api_token: ${token}`,
      'environment:',
      `  DB_PASSWORD: "${kms.encryptForTest(secret)}"`,
      '  FEATURE_ON: true',
      'ports:',
      `  ${hostPort}: 8080`,
      'health_check_path: /health',
      'application_logrotate_size: 10M',
      '',
    ].join('\n'),
    identity: { region: 'eu-central-1', instanceId: 'i-0e2e00000000orig1' },
  });
  await writeFile(join(workDir, 'defaults.yaml'), 'root: false\n');
  agent = new AgentProcess(
    [
      'agent',
      '--imds-url',
      imds.url,
      '--kms-endpoint',
      kms.url,
      '--status-listen',
      '127.0.0.1:0',
      '--meta-dir',
      join(workDir, 'meta'),
      '--defaults',
      join(workDir, 'defaults.yaml'),
      '--container-name',
      containerName,
      '--etcd-endpoint',
      etcd.url,
      '--application-log',
      applicationLog(),
      '--docker-pid-file',
      dockerPidFile(),
    ],
    {
      AWS_ACCESS_KEY_ID: 'AKIDE2EORIG',
      AWS_SECRET_ACCESS_KEY: 'e2e-orig-secret',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      AWS_CONFIG_FILE: '/nonexistent',
    },
  );
}, 60_000);

afterAll(async () => {
  await agent.stop();
  await docker
    .getContainer(containerName)
    .remove({ force: true })
    .catch(() => undefined);
  await etcd.stop();
  await kms.close();
  await rm(workDir, { recursive: true, force: true });
}, 60_000);

describe('taupage agent: the original’s integration points', () => {
  it('boots and registers the healthy app in etcd (TTL 15), its config masked and without environment', async () => {
    const key = '/taupage/ip-10-0-0-10.eu-central-1.compute.internal';
    const node = await eventually(() => etcd.get(key), 'the etcd registration', 60_000);
    expect(node.ttl).toBeLessThanOrEqual(15);
    const value = JSON.parse(node.value) as Record<string, unknown>;
    expect(value).toMatchObject({
      application_id: 'orig-app',
      hystrix: ':7979/hystrix.stream',
      my_api_token: MASKED,
      etcd_discovery_domain: 'disable',
    });
    expect(value).not.toHaveProperty('environment');
    for (const plaintext of [secret, token, 'aws:kms:']) expect(node.value).not.toContain(plaintext);
  });

  it('gives the container ETCD_URL and environment booleans as True', async () => {
    const inspect = await docker.getContainer(containerName).inspect();
    expect(inspect.Config.Env).toEqual(
      expect.arrayContaining(['FEATURE_ON=True', 'ETCD_URL=http://172.17.0.1:2379']),
    );
    expect(inspect.Config.User).toBe('999');
  });

  it('writes the app’s output to application.log as syslog lines, no secret anywhere', async () => {
    // The test image's httpd logs each request: the health checks are its output.
    const text = await eventually(
      async () => {
        const content = await readFile(applicationLog(), 'utf8').catch(() => '');
        return content.trim() === '' ? undefined : content;
      },
      'a line in application.log',
      30_000,
    );
    // The pid is dockerd's, as Docker's syslog driver wrote it.
    const dockerdPid = (await readFile(dockerPidFile(), 'utf8')).trim();
    expect(text.split('\n')[0]).toMatch(
      new RegExp(
        `^[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\S+ docker/[0-9a-f]{12}\\[${dockerdPid}\\]: `,
      ),
    );
    for (const output of [text, agent.stdout, agent.stderr]) {
      expect(output).not.toContain(secret);
      expect(output).not.toContain(token);
    }
  });
});
