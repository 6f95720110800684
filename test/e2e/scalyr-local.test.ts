import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { KmsEmulator } from '../emulators/kms-emulator.js';
import { ScalyrEmulator } from '../emulators/scalyr-emulator.js';
import { AGENT_BUNDLE, AGENT_NODE, AgentProcess } from '../support/agent-process.js';
import { env, eventually, freePort } from '../support/test-env.js';

const execFileAsync = promisify(execFile);
const docker = new Docker();
const containerName = `taupage-scalyr-local-${randomBytes(4).toString('hex')}`;
const agentContainerName = `taupage-scalyr-agent-${randomBytes(4).toString('hex')}`;
// The plaintext write key: it must reach Scalyr as the request's token and appear nowhere else.
const WRITE_KEY = `0scalyrWrite${randomBytes(12).toString('hex')}`;
let workDir = '';
let scalyr: ScalyrEmulator;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'taupage-scalyr-e2e-'));
  scalyr = await ScalyrEmulator.start(WRITE_KEY);
});
afterAll(async () => {
  for (const name of [containerName, agentContainerName])
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
  await scalyr.stop();
  await rm(workDir, { recursive: true, force: true });
});

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('taupage local with an encrypted scalyr_account_key ships the app output to Scalyr', () => {
  it('the decrypted key is the token, serverHost is application_id, logfile /var/log/application.log; the key is nowhere else', async () => {
    const devKey = join(workDir, 'dev-kms.key');
    // Encrypted the way the README and the demo do it: taupage local encrypt VALUE.
    const { stdout: encrypted } = await execFileAsync(AGENT_NODE, [
      AGENT_BUNDLE,
      ...['local', 'encrypt', WRITE_KEY, '--dev-key-file', devKey],
    ]);
    expect(encrypted.trim()).toMatch(/^aws:kms:[A-Za-z0-9+/=]+$/);
    const port = await freePort();
    const configFile = join(workDir, 'taupage.yaml');
    await writeFile(
      configFile,
      [
        'runtime: Docker',
        `source: ${env.image}`,
        'application_id: hello-scalyr',
        'application_version: "1.0"',
        'ports:',
        `  ${String(port)}: 8080`,
        'health_check_path: /health',
        `scalyr_account_key: "${encrypted.trim()}"`,
        '',
      ].join('\n'),
    );
    const agent = new AgentProcess(
      [
        'local',
        ...['--config', configFile, '--dev-key-file', devKey, '--status-listen', '127.0.0.1:0'],
        ...['--container-name', containerName],
      ],
      { TAUPAGE_SCALYR_ENDPOINT: scalyr.url, TAUPAGE_METRICS_LISTEN: '127.0.0.1:0' },
      workDir,
    );
    try {
      // busybox httpd -v logs `response:200` on stderr for every request; the health checks are requests.
      await eventually(
        () =>
          Promise.resolve(
            scalyr.events.some((event) => event.message.includes('response:200')) ? true : undefined,
          ),
        'the app output at the addEvents receiver',
        60_000,
      );
      const taken = scalyr.requests.filter((request) => request.status === 'success');
      for (const request of taken) {
        const body = JSON.parse(request.body) as {
          token: string;
          sessionInfo: Record<string, string>;
          events: { attrs: Record<string, string> }[];
        };
        expect(body.token).toBe(WRITE_KEY);
        expect(body.sessionInfo.serverHost).toBe('hello-scalyr');
        for (const event of body.events) expect(event.attrs.logfile).toBe('/var/log/application.log');
      }
      for (const event of scalyr.events) {
        expect(event.attrs.logfile).toBe('/var/log/application.log');
        expect(event.sessionInfo.serverHost).toBe('hello-scalyr');
        expect(event.message).not.toContain(WRITE_KEY);
      }
      const status = await agent.status();
      expect(status.logShipping).toMatchObject({
        destinations: expect.arrayContaining([
          expect.objectContaining({ destination: 'scalyr', failing: false }),
        ]) as unknown,
      });
      const metricsUrl = agent.logLines.find((line) => line.msg === 'Metrics endpoint listening')?.url;
      if (typeof metricsUrl !== 'string') throw new Error('no metrics endpoint');
      const metrics = await (await fetch(metricsUrl)).text();
      expect(metrics).toMatch(/taupage_log_records_total\{destination="scalyr",outcome="delivered"\} [1-9]/);
      expect(metrics).not.toContain(WRITE_KEY);
      expect(JSON.stringify(status)).not.toContain(WRITE_KEY);
      const health = await (await fetch(new URL('/healthz', await agent.statusUrl()))).text();
      expect(health).not.toContain(WRITE_KEY);
    } finally {
      expect(await agent.stop()).toBe(0);
    }
    // Nowhere else: not in anything the agent printed, nor in a file it wrote (state, spool,
    // checkpoints, /meta), nor anywhere in the request bodies but the token.
    expect(agent.output).not.toContain(WRITE_KEY);
    expect(agent.output).not.toMatch(/Could not start log shipping|Scalyr refused/);
    for (const file of await filesUnder(workDir))
      expect(await readFile(file, 'utf8')).not.toContain(WRITE_KEY);
    for (const request of scalyr.requests)
      expect(request.body.split(WRITE_KEY).length - 1).toBeLessThanOrEqual(1);
  });
});

describe('taupage agent (EC2 mode) with a KMS-encrypted logging.scalyr_account_key and --scalyr-endpoint', () => {
  it('ships the app output to the addEvents endpoint with the decrypted key, logfile /var/log/application.log', async () => {
    const kms = await KmsEmulator.start({ region: 'eu-central-1' });
    const port = await freePort();
    const userData = [
      '#taupage-ami-config',
      'runtime: Docker',
      `source: ${env.image}`,
      'application_id: hello-agent',
      'ports:',
      `  ${String(port)}: 8080`,
      'health_check_path: /health',
      'logging:',
      '  log_destination: none',
      '  use_scalyr_agent_syslog: false',
      '  use_scalyr_agent_authlog: false',
      `  scalyr_account_key: "${kms.encryptForTest(WRITE_KEY)}"`,
      '',
    ].join('\n');
    const imds = await ImdsEmulator.start({
      userData,
      identity: { region: 'eu-central-1', instanceId: 'i-0scalyragent0001' },
    });
    const agent = new AgentProcess(
      [
        'agent',
        ...['--imds-url', imds.url, '--kms-endpoint', kms.url, '--scalyr-endpoint', scalyr.url],
        ...['--status-listen', '127.0.0.1:0', '--meta-dir', join(workDir, 'agent-meta')],
        ...['--defaults', '/nonexistent', '--container-name', agentContainerName],
      ],
      {
        AWS_ACCESS_KEY_ID: 'AKIDSCALYRTEST',
        AWS_SECRET_ACCESS_KEY: 'x',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_CONFIG_FILE: '/nonexistent',
      },
    );
    try {
      const event = await eventually(
        () =>
          Promise.resolve(
            scalyr.events.find(
              (e) => e.sessionInfo.serverHost === 'hello-agent' && e.message.includes('response:200'),
            ),
          ),
        'the app output at the addEvents receiver',
        60_000,
      );
      expect(event.attrs).toMatchObject({ logfile: '/var/log/application.log', parser: 'slf4j' });
      expect(event.sessionInfo).toMatchObject({ aws_ec2_instance_id: 'i-0scalyragent0001' });
      expect(JSON.stringify(await agent.status())).not.toContain(WRITE_KEY);
    } finally {
      expect(await agent.stop()).toBe(0);
      await imds.close();
      await kms.close();
    }
    expect(agent.output).not.toContain(WRITE_KEY);
  });
});
