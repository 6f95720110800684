import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_BUNDLE, AgentProcess } from '../support/agent-process.js';
import { env, eventually, freePort } from '../support/test-env.js';

// What an operator sees when the app's health check breaks after the boot, and when it comes
// back: `taupage local` (the built agent), the real dockerd, the test httpd image serving /www.
// The health path is broken by moving the file it serves away inside the running container.

const run = promisify(execFile);
/** The promise: within 30 s either way (the settings below make it a few seconds). */
const WITHIN_MS = 30_000;

let workDir: string;
let containerName: string;
let agent: AgentProcess;
let statusBase: string;
let metricsUrl: string;
let healthUrl: string;

async function text(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

/** `taupage_health_check_passing` and the transitions counter, from one scrape. */
async function healthMetrics(): Promise<{ passing: string | undefined; toFailing: string | undefined }> {
  const { body } = await text(metricsUrl);
  return {
    passing: /^taupage_health_check_passing (\S+)$/m.exec(body)?.[1],
    toFailing: /^taupage_health_check_transitions_total\{to="failing"\} (\S+)$/m.exec(body)?.[1],
  };
}

async function inApp(...command: string[]): Promise<void> {
  await run('docker', ['exec', '--user', '0', containerName, ...command], { env: process.env });
}

beforeAll(async () => {
  if (!existsSync(AGENT_BUNDLE)) throw new Error('dist/taupage.mjs is missing: run "npm run build" first');
  workDir = await mkdtemp(join(tmpdir(), 'taupage-health-e2e-'));
  containerName = `taupage-health-${randomBytes(4).toString('hex')}`;
  const appPort = await freePort();
  healthUrl = `http://127.0.0.1:${appPort}/health`;
  const config = join(workDir, 'taupage.yaml');
  await writeFile(
    config,
    [
      'runtime: Docker',
      `source: ${env.image}`,
      'application_id: health-e2e',
      'application_version: "1.0"',
      'ports:',
      `  ${appPort}: 8080`,
      'health_check_path: /health',
      '',
    ].join('\n'),
  );
  agent = new AgentProcess(
    [
      'local',
      '--config',
      config,
      '--status-listen',
      '127.0.0.1:0',
      '--metrics-listen',
      '127.0.0.1:0',
      '--container-name',
      containerName,
      '--dev-key-file',
      join(workDir, 'dev.key'),
      '--health-check-interval',
      '0.5',
      '--health-check-timeout',
      '0.5',
    ],
    {},
    workDir,
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
    async () => {
      const status = JSON.parse((await text(`${statusBase}/status`)).body) as { boot: { state: string } };
      if (status.boot.state === 'failed') throw new Error(`boot failed:\n${agent.output}`);
      return status.boot.state === 'succeeded' || undefined;
    },
    'the boot to succeed',
    60_000,
  );
}, 90_000);

afterAll(async () => {
  // Local mode removes the app container on exit; -f in case the agent died first.
  await agent.stop();
  await run('docker', ['rm', '-f', containerName], { env: process.env }).catch(() => undefined);
  await rm(workDir, { recursive: true, force: true });
});

describe('the health check after the boot (taupage local)', () => {
  it('passes after the boot: /healthz 200, the gauge 1, the status says passing', async () => {
    expect(await text(`${statusBase}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    expect((await healthMetrics()).passing).toBe('1');
    const status = JSON.parse((await text(`${statusBase}/status`)).body) as {
      health: Record<string, unknown>;
    };
    expect(status.health).toMatchObject({ status: 'passing', url: healthUrl });
  });

  it('a health path answering 404 makes /healthz 503 naming the check and since when, and the gauge 0, within 30 s', async () => {
    await inApp('/bin/mv', '/www/health', '/www/health.off');
    expect((await fetch(healthUrl)).status).toBe(404);
    const brokenAt = Date.now();
    const healthz = await eventually(
      async () => {
        const answer = await text(`${statusBase}/healthz`);
        return answer.status === 503 ? answer.body : undefined;
      },
      '/healthz to report the failing health check',
      WITHIN_MS,
    );
    const metrics = await eventually(
      async () => {
        const scraped = await healthMetrics();
        return scraped.passing === '0' ? scraped : undefined;
      },
      'taupage_health_check_passing to be 0',
      WITHIN_MS,
    );
    expect(Date.now() - brokenAt).toBeLessThan(WITHIN_MS);
    expect(healthz).toMatch(
      new RegExp(
        `^impaired: health: health check ${healthUrl.replace(/[.]/g, '\\.')} failing since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(last: HTTP 404 from `,
      ),
    );
    expect(metrics.toFailing).toBe('1');

    const status = JSON.parse((await text(`${statusBase}/status`)).body) as {
      health: {
        status: string;
        since: string;
        lastResult: { ok: boolean; detail: string };
        transitions: unknown[];
      };
      checks: { name: string; ok: boolean }[];
    };
    expect(status.health).toMatchObject({
      status: 'failing',
      lastResult: { ok: false, detail: `HTTP 404 from ${healthUrl}` },
    });
    expect(Date.parse(status.health.since)).toBeGreaterThanOrEqual(brokenAt - 1000);
    expect(status.health.transitions).toEqual([
      expect.objectContaining({ from: 'unknown', to: 'passing' }),
      expect.objectContaining({ from: 'passing', to: 'failing', reason: `HTTP 404 from ${healthUrl}` }),
    ]);
    expect(status.checks).toContainEqual(expect.objectContaining({ name: 'health', ok: false }));
    const page = await text(`${statusBase}/`);
    expect(page.body).toContain('<span class="badge bad">failing</span>');
    expect(page.body).toContain(`HTTP 404 from ${healthUrl}`);
  });

  it('recovers within 30 s of the app recovering, and logs one line per transition, not per probe', async () => {
    await inApp('/bin/mv', '/www/health.off', '/www/health');
    const fixedAt = Date.now();
    await eventually(
      async () => ((await text(`${statusBase}/healthz`)).status === 200 ? true : undefined),
      '/healthz to be 200 again',
      WITHIN_MS,
    );
    await eventually(
      async () => ((await healthMetrics()).passing === '1' ? true : undefined),
      'taupage_health_check_passing to be 1 again',
      WITHIN_MS,
    );
    expect(Date.now() - fixedAt).toBeLessThan(WITHIN_MS);
    const transitions = agent.logLines.filter((line) => String(line.msg).startsWith('Health check '));
    expect(transitions.map((line) => [line.level, line.to])).toEqual([
      ['warn', 'failing'],
      ['info', 'passing'],
    ]);
    const probesSeen = agent.logLines.filter((line) => String(line.msg).includes(healthUrl)).length;
    expect(probesSeen).toBe(2);
  });
});
