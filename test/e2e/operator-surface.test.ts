import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { KmsEmulator } from '../emulators/kms-emulator.js';
import { AGENT_BUNDLE, AGENT_NODE, AgentProcess } from '../support/agent-process.js';
import { env, eventually, freePort } from '../support/test-env.js';

const run = promisify(execFile);
const docker = new Docker();
const CHROMIUM = '/usr/bin/chromium';
const secret = `operator-plaintext-${randomBytes(8).toString('hex')}`;
const plainPassword = `plain-pass-${randomBytes(6).toString('hex')}`;

let kms: KmsEmulator;
let imds: ImdsEmulator;
let agent: AgentProcess;
let workDir: string;
let containerName: string;
let statusBase: string;
let metricsUrl: string;
/** Every response body any test read, so the last test can grep them all for the secret. */
const bodies: string[] = [];

async function get(url: string): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(url);
  const body = await response.text();
  bodies.push(body);
  return { status: response.status, body, headers: response.headers };
}

async function status(): Promise<Record<string, unknown>> {
  return JSON.parse((await get(`${statusBase}/status`)).body) as Record<string, unknown>;
}

/** Headless Chromium, isolated: no sandbox (root in CI), no network besides the page, fresh profile. */
async function chromium(args: string[]): Promise<string> {
  const profile = await mkdtemp(join(workDir, 'chromium-'));
  const { stdout } = await run(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      ...args,
    ],
    { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

beforeAll(async () => {
  if (!existsSync(AGENT_BUNDLE)) throw new Error('dist/taupage.mjs is missing: run "npm run build" first');
  workDir = await mkdtemp(join(tmpdir(), 'taupage-operator-'));
  kms = await KmsEmulator.start({ region: 'eu-central-1' });
  const hostPort = await freePort();
  containerName = `taupage-operator-${randomBytes(4).toString('hex')}`;
  imds = await ImdsEmulator.start({
    userData: [
      '#taupage-ami-config',
      'runtime: Docker',
      'application_id: operator-app',
      'application_version: "2.1"',
      `source: ${env.image}`,
      'environment:',
      `  DB_PASSWORD: "${kms.encryptForTest(secret)}"`,
      `  SMTP_PASSWORD: ${plainPassword}`,
      '  GREETING: hello',
      'ports:',
      `  ${hostPort}: 8080`,
      'health_check_path: /health',
      '',
    ].join('\n'),
    identity: { region: 'eu-central-1', instanceId: 'i-0e2e0000000000006' },
  });
  const textfileDir = join(workDir, 'textfile');
  await rm(textfileDir, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(textfileDir));
  await writeFile(join(textfileDir, 'cron.prom'), 'cron_job_last_run_seconds{job="backup"} 1700000000\n');
  await writeFile(join(workDir, 'defaults.yaml'), 'root: false\n');
  agent = new AgentProcess(
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
      '--metrics-listen',
      '127.0.0.1:0',
      '--metrics-textfile-dir',
      textfileDir,
      '--meta-dir',
      await mkdtemp(join(workDir, 'meta-')),
      '--defaults',
      join(workDir, 'defaults.yaml'),
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
  statusBase = (await agent.statusUrl()).replace(/\/status$/, '');
  metricsUrl = await eventually(
    () =>
      Promise.resolve(
        agent.logLines.find((line) => line.msg === 'Metrics endpoint listening')?.url as string | undefined,
      ),
    'the metrics endpoint to come up',
  );
  await eventually(
    async () => ((await status()).boot as { state: string }).state === 'succeeded' || undefined,
    'the boot to succeed',
    60_000,
  );
});

afterAll(async () => {
  await agent.stop();
  await docker
    .getContainer(containerName)
    .remove({ force: true })
    .catch(() => undefined);
  await imds.close();
  await kms.close();
  await rm(workDir, { recursive: true, force: true });
});

describe('operator surface of the running agent', () => {
  it('GET /status: build, identity, image digest, redacted config, container, placeholders', async () => {
    const document = await eventually(async () => {
      const current = await status();
      return (current.application as { imageDigest: string | null }).imageDigest === null
        ? undefined
        : current;
    }, 'the image digest');
    const agentInfo = document.agent as { mode: string; version: string; commit: string };
    expect(agentInfo.mode).toBe('ec2');
    expect(agentInfo.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(agentInfo.commit).not.toBe('');
    expect((document.agent as { endpoints: unknown }).endpoints).toEqual({
      status: `${statusBase}/status`,
      metrics: metricsUrl,
    });
    expect(document.instance).toMatchObject({ instanceId: 'i-0e2e0000000000006', region: 'eu-central-1' });
    expect(document.application).toMatchObject({ id: 'operator-app', version: '2.1', image: env.image });
    const { imageDigest } = document.application as { imageDigest: string };
    expect(imageDigest).toMatch(/@sha256:[0-9a-f]{64}$|^sha256:[0-9a-f]{64}$/);
    const config = document.config as { environment: Record<string, string> };
    expect(config.environment).toEqual({
      DB_PASSWORD: '[redacted]',
      SMTP_PASSWORD: '[redacted]',
      GREETING: 'hello',
    });
    expect(document.container).toMatchObject({
      name: containerName,
      state: 'running',
      restartCount: 0,
      oomKilled: false,
      exitCode: null,
    });
    // No cloudwatch_logs and no logging: nothing shipped off the host, only the app's output to
    // the original's /var/log/application.log; the agent's own log buffer turned off.
    expect(document.logShipping).toMatchObject({
      destinations: [expect.objectContaining({ destination: 'application-log', failing: false })],
      sources: [expect.objectContaining({ name: 'application' })],
      agentLog: { state: 'off', queuedLines: 0, queuedBytes: 0, droppedLines: 0 },
    });
    expect(document.ssh).toEqual({ grants: [] });
    expect(document.cloudwatch).toEqual({ enabled: false });
    expect(document.lastErrors).toEqual([]);
    expect(document.checks).toEqual([
      { name: 'boot', ok: true, detail: 'succeeded' },
      { name: 'container', ok: true, detail: 'running' },
      expect.objectContaining({ name: 'supervisor', ok: true }),
    ]);
  });

  it('GET /healthz is ok while healthy; other methods and paths are refused', async () => {
    expect(await get(`${statusBase}/healthz`)).toMatchObject({ status: 200, body: 'ok\n' });
    expect((await fetch(`${statusBase}/status`, { method: 'POST' })).status).toBe(405);
    expect((await get(`${statusBase}/nope`)).status).toBe(404);
  });

  it('GET / renders in headless Chromium: the page shows the app, the boot and the checks', async () => {
    const page = await get(`${statusBase}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.body).not.toMatch(/<script|<link|src=|url\(/i); // no external assets, no scripts
    const dom = await chromium(['--dump-dom', `${statusBase}/`]);
    for (const text of [
      'operator-app',
      'i-0e2e0000000000006',
      containerName,
      'succeeded',
      'OK',
      '[redacted]',
    ])
      expect(dom).toContain(text);
    const shot = join(workDir, 'status-page.png');
    const blank = join(workDir, 'blank.png');
    await chromium(['--window-size=1280,1600', `--screenshot=${shot}`, `${statusBase}/`]);
    await chromium(['--window-size=1280,1600', `--screenshot=${blank}`, 'about:blank']);
    const png = await readFile(shot);
    expect(pngSize(png)).toEqual({ width: 1280, height: 1600 });
    // A rendered page compresses far worse than a blank one: the page drew text and colour.
    expect(png.length).toBeGreaterThan((await readFile(blank)).length * 5);
    if (process.env.TAUPAGE_KEEP_SCREENSHOT !== undefined)
      await writeFile(process.env.TAUPAGE_KEEP_SCREENSHOT, png);
  });

  it('GET /metrics: node_exporter host families, the container, the agent, the textfile', async () => {
    const metrics = await eventually(async () => {
      const { body } = await get(metricsUrl);
      return body.includes('taupage_container_memory_usage_bytes') ? body : undefined;
    }, 'container stats in /metrics');
    for (const family of [
      'node_cpu_seconds_total',
      'node_memory_MemAvailable_bytes',
      'node_filesystem_avail_bytes',
      'node_disk_read_bytes_total',
      'node_network_receive_bytes_total',
      'node_load1',
      'node_boot_time_seconds',
      'process_resident_memory_bytes',
    ])
      expect(metrics).toContain(`# TYPE ${family} `);
    expect(metrics).toContain(`taupage_container_running{name="${containerName}"} 1`);
    expect(metrics).toContain(`taupage_container_restarts_total{name="${containerName}"} 0`);
    expect(metrics).toMatch(
      new RegExp(`taupage_container_cpu_seconds_total\\{name="${containerName}"\\} [0-9.e-]+`),
    );
    expect(metrics).toMatch(
      /taupage_container_network_receive_bytes_total\{name="[^"]+",interface="eth0"\} \d+/,
    );
    expect(metrics).toContain('taupage_kms_decrypt_calls_total{outcome="success"} 1');
    expect(metrics).toMatch(
      /taupage_boot_step_duration_seconds\{step="health",outcome="succeeded"\} [0-9.e-]+/,
    );
    expect(metrics).toContain('taupage_boot_state{state="succeeded"} 1');
    expect(metrics).toContain('# TYPE taupage_log_records_total counter');
    expect(metrics).toContain('taupage_log_agent_log_dropped_lines_total 0\n');
    expect(metrics).toMatch(/taupage_build_info\{version="[^"]+",commit="[^"]+",mode="ec2"\} 1/);
    expect(metrics).toContain('cron_job_last_run_seconds{job="backup"} 1700000000');
    expect(metrics).toContain('node_textfile_scrape_error 0');
    const gzipped = await fetch(metricsUrl, { headers: { 'accept-encoding': 'gzip' } });
    expect(gzipped.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('is rate-limited: a burst past 60 requests gets 429', async () => {
    const answers = await Promise.all(
      Array.from({ length: 120 }, async () => {
        const response = await fetch(`${statusBase}/healthz`);
        bodies.push(await response.text());
        return response.status;
      }),
    );
    expect(answers.filter((code) => code === 429).length).toBeGreaterThan(0);
    expect(answers.filter((code) => code === 200).length).toBeGreaterThanOrEqual(55);
    await eventually(
      async () => ((await get(`${statusBase}/healthz`)).status === 200 ? true : undefined),
      'tokens',
    );
  });

  it('taupage status prints a summary for humans, and JSON with --format json', async () => {
    const text = await run(AGENT_NODE, [AGENT_BUNDLE, 'status', '--url', `${statusBase}/status`]);
    bodies.push(text.stdout);
    expect(text.stdout).toMatch(/^state +OK$/m);
    expect(text.stdout).toMatch(/^application +operator-app 2\.1$/m);
    expect(text.stdout).toMatch(new RegExp(`^container +${containerName} running, 0 restart\\(s\\)`, 'm'));
    const json = await run(AGENT_NODE, [
      AGENT_BUNDLE,
      'status',
      '--url',
      `${statusBase}/status`,
      '--format',
      'json',
    ]);
    bodies.push(json.stdout);
    expect(JSON.parse(json.stdout)).toMatchObject({ application: { id: 'operator-app' } });
  });

  it('GET /healthz answers 503 naming the failed check when the container stops', async () => {
    await docker.getContainer(containerName).stop({ t: 1 });
    const impaired = await eventually(
      async () => {
        const answer = await get(`${statusBase}/healthz`);
        return answer.status === 503 ? answer.body : undefined;
      },
      'the supervisor to notice',
      20_000,
    );
    expect(impaired).toMatch(/^impaired: container: container exited, exit code \d+/);
    const document = await status();
    expect(document.container).toMatchObject({ state: 'exited' });
    const cli = await run(AGENT_NODE, [AGENT_BUNDLE, 'status', '--url', `${statusBase}/status`]).catch(
      (error: unknown) => error as { code: number; stdout: string },
    );
    expect(cli).toMatchObject({ code: 1 });
    expect(cli.stdout).toMatch(/^state +IMPAIRED \(container: container exited/m);
    expect((await get(metricsUrl)).body).toContain(`taupage_container_running{name="${containerName}"} 0`);
  });

  it('never shows a secret: not in any answer, the page, the CLI or the logs', () => {
    expect(bodies.length).toBeGreaterThan(10);
    for (const body of bodies) {
      expect(body).not.toContain(secret);
      expect(body).not.toContain(plainPassword);
    }
    expect(agent.output).not.toContain(secret);
  });

  it('refuses an off-host status address unless --status-allow-offhost is given', async () => {
    const refused = await run(AGENT_NODE, [AGENT_BUNDLE, 'agent', '--status-listen', '0.0.0.0:0']).catch(
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(refused).toMatchObject({ code: 64 });
    expect(refused.stderr).toContain('--status-allow-offhost');
  });
});
