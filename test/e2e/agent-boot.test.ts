import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { KmsEmulator } from '../emulators/kms-emulator.js';
import { AgentProcess } from '../support/agent-process.js';
import { env, eventually, freePort } from '../support/test-env.js';

const docker = new Docker();
let kms: KmsEmulator;
let workDir: string;
const containers: string[] = [];

beforeAll(async () => {
  kms = await KmsEmulator.start({ region: 'eu-central-1' });
  workDir = await mkdtemp(join(tmpdir(), 'taupage-e2e-'));
});
afterAll(async () => {
  for (const name of containers.splice(0)) {
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
  }
  await kms.close();
  await rm(workDir, { recursive: true, force: true });
});

interface Boot {
  agent: AgentProcess;
  imds: ImdsEmulator;
  metaDir: string;
  containerName: string;
}

/** Starts IMDS with the user data and the built agent against it and the KMS emulator. */
async function startAgent(
  userData: string | undefined,
  options: { unavailable?: number; containerName?: string; metaDir?: string } = {},
): Promise<Boot> {
  const imds = await ImdsEmulator.start({
    userData,
    identity: { region: 'eu-central-1', instanceId: 'i-0e2e0000000000001' },
  });
  if (options.unavailable !== undefined) imds.unavailable(options.unavailable);
  const containerName = options.containerName ?? `taupage-e2e-${randomBytes(4).toString('hex')}`;
  containers.push(containerName);
  const metaDir = options.metaDir ?? (await mkdtemp(join(workDir, 'meta-')));
  const defaults = join(workDir, 'defaults.yaml');
  await writeFile(defaults, 'root: false\n');
  const agent = new AgentProcess(
    [
      'agent',
      '--imds-url',
      imds.url,
      '--imds-budget',
      '10',
      '--kms-endpoint',
      kms.url,
      '--status-listen',
      '127.0.0.1:0',
      '--meta-dir',
      metaDir,
      '--defaults',
      defaults,
      '--container-name',
      containerName,
    ],
    {
      AWS_ACCESS_KEY_ID: 'AKIDE2ETEST',
      AWS_SECRET_ACCESS_KEY: 'e2e-secret-key',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      AWS_CONFIG_FILE: '/nonexistent',
    },
  );
  return { agent, imds, metaDir, containerName };
}

function userData(body: string): string {
  return `#taupage-ami-config\nruntime: Docker\napplication_id: e2e-app\napplication_version: "1.0"\n${body}`;
}

async function bootState(agent: AgentProcess): Promise<Record<string, unknown>> {
  const state = await eventually(
    async () => {
      // An agent that exited has no status endpoint: say so at once, with what it printed.
      if (agent.exitCode !== null) return { exited: agent.exitCode };
      const status = await agent.status();
      const boot = status.boot as { state: string };
      return boot.state === 'booting' ? undefined : status;
    },
    'the boot to finish',
    60_000,
  );
  if ('exited' in state)
    throw new Error(
      `the agent exited (${String(state.exited)}) before its boot finished:\n${agent.output.slice(-4000)}`,
    );
  return state;
}

async function allFilesUnder(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  return (await Promise.all(files.map((file) => readFile(file, 'utf8')))).join('\n');
}

describe('taupage agent: user data to a healthy container', () => {
  const secret = `e2e-plaintext-${randomBytes(8).toString('hex')}`;
  let hostPort: number;
  /** The first boot (IMDS not up at first), kept running for the checks that only look at it. */
  let boot: Boot;
  let firstStatus: Record<string, unknown>;

  /** Without ports: the agents the tests stop and restart run beside the first one. */
  function ownConfig(greeting: string): string {
    return userData(
      [
        `source: ${env.image}`,
        'environment:',
        `  DB_PASSWORD: "${kms.encryptForTest(secret)}"`,
        `  GREETING: ${greeting}`,
        '',
      ].join('\n'),
    );
  }

  /** An agent of its own (its own container), booted. */
  async function bootOwn(config: string, options: { containerName?: string; metaDir?: string } = {}) {
    const own = await startAgent(config, options);
    expect((await bootState(own.agent)).boot).toMatchObject({ state: 'succeeded' });
    return own;
  }

  async function stopOwn(own: Boot): Promise<void> {
    expect(await own.agent.stop()).toBe(0);
    expect(own.agent.output).not.toContain(secret);
    await own.imds.close();
  }

  beforeAll(async () => {
    hostPort = await freePort();
    const firstConfig = userData(
      [
        `source: ${env.image}`,
        'environment:',
        `  DB_PASSWORD: "${kms.encryptForTest(secret)}"`,
        '  GREETING: hello',
        'ports:',
        `  ${hostPort}: 8080`,
        'health_check_path: /health',
        '',
      ].join('\n'),
    );
    boot = await startAgent(firstConfig, { unavailable: 3 });
    firstStatus = await bootState(boot.agent);
  });
  afterAll(async () => {
    await boot.agent.stop();
    await boot.imds.close();
  });

  it('boots even though IMDS is not up yet, decrypts, pulls, starts and passes the health check', () => {
    const status = firstStatus;
    expect(status.boot).toMatchObject({ state: 'succeeded', error: null });
    const steps = (status.boot as { steps: { name: string; outcome: string; durationMs: number }[] }).steps;
    expect(steps.map((step) => [step.name, step.outcome])).toEqual([
      ['imds', 'succeeded'],
      ['config', 'succeeded'],
      ['kms', 'succeeded'],
      ['host', 'succeeded'],
      ['pull', 'succeeded'],
      ['container', 'succeeded'],
      ['health', 'succeeded'],
      ['loadbalancer', 'skipped'],
    ]);
    expect(status).toMatchObject({
      instance: { instanceId: 'i-0e2e0000000000001', region: 'eu-central-1' },
      application: { id: 'e2e-app', version: '1.0', image: env.image },
      container: { name: boot.containerName, state: 'running' },
      health: { status: 'passing', url: `http://127.0.0.1:${hostPort}/health` },
    });
    expect(kms.decryptCalls).toBeGreaterThanOrEqual(1);
    expect(boot.imds.tokensIssued).toBeGreaterThanOrEqual(1);
  });

  it('runs the container with the decrypted env, the port, the application user and /meta read-only', async () => {
    const inspect = await docker.getContainer(boot.containerName).inspect();
    expect(inspect.State.Running).toBe(true);
    expect(inspect.Config.Env).toEqual(
      expect.arrayContaining([
        `DB_PASSWORD=${secret}`,
        'GREETING=hello',
        'APPLICATION_ID=e2e-app',
        'APPLICATION_VERSION=1.0',
      ]),
    );
    expect(inspect.Config.User).toBe('999');
    expect(inspect.HostConfig.Binds).toEqual([`${boot.metaDir}:/meta:ro`]);
    expect(inspect.HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 10 });
    expect(inspect.HostConfig.LogConfig).toEqual({
      Type: 'local',
      Config: { 'max-size': '50m', 'max-file': '5' },
    });
    expect(inspect.Config.Labels['io.taupage.config-digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
    const response = await fetch(`http://127.0.0.1:${hostPort}/health`);
    expect(response.status).toBe(200);
  });

  it('never lets the plaintext out: not in its output, the status endpoint or /meta', async () => {
    const statusBody = await (await fetch(await boot.agent.statusUrl())).text();
    expect(statusBody).not.toContain(secret);
    const meta = await allFilesUnder(boot.metaDir);
    expect(meta).toContain('aws:kms:');
    expect(meta).not.toContain(secret);
    expect(boot.agent.output).not.toContain(secret);
    expect(boot.agent.logLines.some((line) => String(line.msg).startsWith('Boot completed in'))).toBe(true);
  });

  it('shuts down cleanly on SIGTERM and leaves the app running', async () => {
    const own = await bootOwn(ownConfig('hello'));
    await stopOwn(own);
    const inspect = await docker.getContainer(own.containerName).inspect();
    expect(inspect.State.Running).toBe(true);
  });

  it('adopts the running container after an agent restart instead of creating a duplicate', async () => {
    // One config: each ownConfig() encrypts anew, and a new ciphertext is a changed config.
    const config = ownConfig('hello');
    const first = await bootOwn(config);
    await stopOwn(first);
    const before = await docker.getContainer(first.containerName).inspect();
    const again = await startAgent(config, {
      containerName: first.containerName,
      metaDir: first.metaDir,
    });
    const status = await bootState(again.agent);
    expect(status.boot).toMatchObject({ state: 'succeeded' });
    const containerStep = (status.boot as { steps: { name: string; detail: string }[] }).steps.find(
      (step) => step.name === 'container',
    );
    expect(containerStep?.detail).toMatch(/^adopted running container/);
    const after = await docker.getContainer(first.containerName).inspect();
    expect(after.Id).toBe(before.Id);
    expect(after.State.StartedAt).toBe(before.State.StartedAt);
    const sameName = await docker.listContainers({
      all: true,
      filters: { name: [`^/${first.containerName}$`] },
    });
    expect(sameName).toHaveLength(1);
    await stopOwn(again);
  });

  it('replaces the container when the user data changed (new config after a stop/start)', async () => {
    const first = await bootOwn(ownConfig('hello'));
    await stopOwn(first);
    const before = await docker.getContainer(first.containerName).inspect();
    const again = await startAgent(ownConfig('changed'), {
      containerName: first.containerName,
      metaDir: first.metaDir,
    });
    const status = await bootState(again.agent);
    expect(status.boot).toMatchObject({ state: 'succeeded' });
    const after = await docker.getContainer(first.containerName).inspect();
    expect(after.Id).not.toBe(before.Id);
    expect(after.Config.Env).toEqual(expect.arrayContaining(['GREETING=changed', `DB_PASSWORD=${secret}`]));
    expect(
      await docker.listContainers({ all: true, filters: { name: [`^/${first.containerName}$`] } }),
    ).toHaveLength(1);
    await stopOwn(again);
  });
});

describe('taupage agent: bad input fails fast with one clear line and the documented exit code', () => {
  async function expectFailure(config: string | undefined, code: string, exitCode: number, message: RegExp) {
    const boot = await startAgent(config);
    const exit = await boot.agent.exited;
    await boot.imds.close();
    const errorLines = boot.agent.stderr.split('\n').filter((line) => line.startsWith('taupage: error'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toMatch(new RegExp(`^taupage: error ${code}: `));
    expect(errorLines[0]).toMatch(message);
    expect(boot.agent.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(exit).toBe(exitCode);
    return boot;
  }

  it('no user data → USER_DATA_NOT_FOUND, exit 2', async () => {
    await expectFailure(undefined, 'USER_DATA_NOT_FOUND', 2, /no user data/);
  });

  it('malformed YAML → USER_DATA_INVALID with the line, exit 2', async () => {
    await expectFailure(
      '#taupage-ami-config\nruntime: Docker\nports: [8080\nsource: x\n',
      'USER_DATA_INVALID',
      2,
      /line 4/,
    );
  });

  it('missing source → CONFIG_INVALID naming the key, exit 2, and no container', async () => {
    const boot = await expectFailure(userData('ports:\n  8080: 8080\n'), 'CONFIG_INVALID', 2, /source/);
    expect(
      await docker.listContainers({ all: true, filters: { name: [`^/${boot.containerName}$`] } }),
    ).toHaveLength(0);
  });

  it(':latest → CONFIG_INVALID, exit 2', async () => {
    await expectFailure(
      userData(`source: ${env.registry}/taupage-test/httpd:latest\n`),
      'CONFIG_INVALID',
      2,
      /latest/,
    );
  });

  it('image not found → IMAGE_NOT_FOUND, exit 3', async () => {
    await expectFailure(
      userData(`source: ${env.registry}/taupage-test/httpd:9.9.9\n`),
      'IMAGE_NOT_FOUND',
      3,
      /httpd:9\.9\.9/,
    );
  });

  it('registry refuses the credentials → REGISTRY_AUTH_FAILED, exit 3', async () => {
    await docker
      .getImage(env.authImage)
      .remove({ force: true })
      .catch(() => undefined);
    const auth = Buffer.from(`${env.registryUser}:not-the-password`).toString('base64');
    const boot = await expectFailure(
      userData(`source: ${env.authImage}\ndockercfg:\n  ${env.authRegistry}:\n    auth: ${auth}\n`),
      'REGISTRY_AUTH_FAILED',
      3,
      /Registry refused/,
    );
    expect(boot.agent.output).not.toContain('not-the-password');
  });

  it('KMS denies decryption → SECRET_ACCESS_DENIED naming the variable, exit 3', async () => {
    const plaintext = `denied-${randomBytes(6).toString('hex')}`;
    const keyId = kms.createKey();
    kms.denyDecrypt(keyId);
    const boot = await expectFailure(
      userData(
        `source: ${env.image}\nenvironment:\n  API_SECRET: "${kms.encryptForTest(plaintext, { keyId })}"\n`,
      ),
      'SECRET_ACCESS_DENIED',
      3,
      /environment\.API_SECRET: KMS: access denied/,
    );
    expect(boot.agent.output).not.toContain(plaintext);
  });

  it('health check never passes → HEALTH_CHECK_TIMEOUT, exit 3', async () => {
    const port = await freePort();
    await expectFailure(
      userData(
        `source: ${env.image}\nports:\n  ${port}: 8080\nhealth_check_path: /not-there\nhealth_check_timeout_seconds: 2\n`,
      ),
      'HEALTH_CHECK_TIMEOUT',
      3,
      /last: HTTP 404/,
    );
  });
});
