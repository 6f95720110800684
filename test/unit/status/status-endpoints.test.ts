import type { Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/core/redactor.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import {
  CONTAINER_CHECK_STALE_MS,
  healthChecks,
  LOG_DESTINATION_FAILING_MS,
} from '../../../src/status/health-checks.js';
import { RateLimiter } from '../../../src/status/rate-limiter.js';
import { AgentMetrics } from '../../../src/metrics/agent-metrics.js';
import { statusDocument } from '../../../src/status/status-document.js';
import { renderStatusPage } from '../../../src/status/status-page.js';
import { baseUrl, close, createStatusServer, listen } from '../../../src/status/status-server.js';
import { formatStatusText } from '../../../src/status/status-text.js';

const clock = { now: () => 1_000_000, sleep: () => Promise.resolve() };
const running = {
  id: 'c0ffee000000000',
  name: 'taupageapp',
  state: 'running' as const,
  exitCode: undefined,
  restartCount: 0,
  oomKilled: false,
  startedAt: undefined,
  finishedAt: undefined,
  health: undefined,
  labels: {},
  imageId: 'sha256:1',
};

function newState(): AgentState {
  return new AgentState(new BootTimeline(clock, [{ name: 'imds', description: 'imds' }]), {
    version: '1.0.0',
    commit: 'abc',
    mode: 'ec2',
    startedAt: new Date(0).toISOString(),
  });
}

describe('RateLimiter', () => {
  it('lets a burst through, then the steady rate', () => {
    let now = 0;
    const limiter = new RateLimiter(40, 60, () => now);
    const burst = Array.from({ length: 70 }, () => limiter.tryTake()).filter(Boolean).length;
    expect(burst).toBe(60);
    now += 100; // 100 ms at 40/s = 4 tokens
    expect(Array.from({ length: 10 }, () => limiter.tryTake()).filter(Boolean).length).toBe(4);
  });
});

describe('healthChecks', () => {
  it('boot failure, a stopped container, a stale supervisor and a failing health check each name themselves', () => {
    const state = newState();
    expect(healthChecks(state, 0)).toEqual([{ name: 'boot', ok: true, detail: 'booting' }]);
    state.bootFailed({ code: 'IMAGE_NOT_FOUND', message: 'x' });
    expect(healthChecks(state, 0)).toEqual([
      { name: 'boot', ok: false, detail: 'boot failed: IMAGE_NOT_FOUND' },
    ]);
    state.bootSucceeded({ maintenance: false, shutdown: 'never' });
    state.containerObserved({ ...running, state: 'exited', exitCode: 137, oomKilled: true }, 0);
    state.health.checking('http://127.0.0.1:8080/health', false);
    state.health.bootGate({
      ok: false,
      detail: 'HTTP 404 from http://127.0.0.1:8080/health',
      at: 0,
      durationMs: 5,
    });
    const failed = healthChecks(state, CONTAINER_CHECK_STALE_MS + 1).filter((check) => !check.ok);
    expect(failed.map((check) => [check.name, check.detail])).toEqual([
      ['container', 'container exited, exit code 137, OOM-killed'],
      ['supervisor', 'container not inspected for 20 s (Docker not answering?)'],
      [
        'health',
        'health check http://127.0.0.1:8080/health failing since 1970-01-01T00:00:00.000Z (last: HTTP 404 from http://127.0.0.1:8080/health)',
      ],
    ]);
  });

  it('a log destination failing for 5 minutes impairs the agent; a shorter outage does not', () => {
    const state = newState();
    state.bootSucceeded({ maintenance: true, shutdown: 'never' });
    const destination = {
      destination: 'cloudwatch-logs',
      lagSeconds: 299,
      spoolBytes: 10,
      droppedLines: 0,
      delivered: 5,
      rejected: 0,
      dropped: 0,
      sampledOut: 0,
      failures: 9,
      failing: true,
      lastError: 'CloudWatch Logs /app: ServiceUnavailableException',
    };
    const report = (lagSeconds: number) => ({
      destinations: [{ ...destination, lagSeconds }],
      sources: [],
      spool: { diskBytes: 10, pendingBytes: 0 },
    });
    state.logPipelineStarted(() => report(299));
    expect(healthChecks(state, 0).filter((check) => !check.ok)).toEqual([]);
    state.logPipelineStarted(() => report(LOG_DESTINATION_FAILING_MS / 1000));
    expect(healthChecks(state, 0).filter((check) => !check.ok)).toEqual([
      {
        name: 'logs',
        ok: false,
        detail:
          'log destination cloudwatch-logs failing for 300 s: CloudWatch Logs /app: ServiceUnavailableException',
      },
    ]);
  });
});

describe('status server', () => {
  let server: Server | undefined;
  afterEach(async () => {
    if (server !== undefined) await close(server);
  });

  it('serves /status, / and /healthz, scrubs registered secrets, refuses writes, rate-limits', async () => {
    const state = newState();
    const redactor = new Redactor();
    redactor.register('leaked-plaintext');
    state.recordError({ at: 'now', component: 'x', code: 'INTERNAL', message: 'oops leaked-plaintext' });
    state.applicationKnown({
      id: '<script>alert(1)</script>',
      version: '1',
      image: 'img',
      configDigest: 'd',
    });
    state.bootSucceeded({ maintenance: false, shutdown: 'never' });
    state.containerObserved({ ...running, state: 'exited', exitCode: 1 });
    const requests: string[] = [];
    server = createStatusServer({
      status: () => statusDocument(state, clock.now()),
      checks: () => healthChecks(state, clock.now()),
      redactor,
      now: () => 0,
      rate: { perSecond: 1, burst: 6 },
      onRequest: (path, code) => requests.push(`${path} ${code}`),
    });
    const base = baseUrl(await listen(server, '127.0.0.1', 0));
    const json = await (await fetch(`${base}/status`)).text();
    expect(json).not.toContain('leaked-plaintext');
    expect(JSON.parse(json)).toMatchObject({
      lastErrors: [{ message: 'oops [redacted]' }],
      logShipping: { destinations: [] },
    });
    const page = await (await fetch(`${base}/`)).text();
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).not.toContain('<script>');
    const healthz = await fetch(`${base}/healthz`);
    expect(healthz.status).toBe(503);
    expect(await healthz.text()).toBe('impaired: container: container exited, exit code 1\n');
    expect((await fetch(`${base}/status`, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`${base}/x`)).status).toBe(404);
    expect((await fetch(`${base}/status`)).status).toBe(200);
    expect((await fetch(`${base}/status`)).status).toBe(429);
    expect(requests).toEqual([
      '/status 200',
      '/ 200',
      '/healthz 503',
      '/status 405',
      'other 404',
      '/status 200',
      '/status 429',
    ]);
  });
});

describe('status for humans', () => {
  it('renders the page and the terminal text from the same document', () => {
    const state = newState();
    state.bootSucceeded({ maintenance: false, shutdown: 'never' });
    state.containerObserved(running, clock.now());
    state.applicationKnown({ id: 'app', version: '7', image: 'reg/app:7', configDigest: 'sha256:x' });
    state.imageDigestKnown('reg/app@sha256:abc');
    const document = statusDocument(state, clock.now());
    expect(renderStatusPage(document)).toContain('reg/app@sha256:abc');
    const text = formatStatusText(document);
    expect(text).toMatch(/^state +OK$/m);
    expect(text).toMatch(/^image +reg\/app:7 \(reg\/app@sha256:abc\)$/m);
    expect(text).toMatch(/^container +taupageapp running, 0 restart\(s\), exit code -$/m);
  });
});

describe('etcd in /status, the text and the metrics', () => {
  it('is null and absent without etcd_discovery_domain; shows the local etcd and the heartbeat with it', async () => {
    const state = newState();
    expect(statusDocument(state, clock.now()).etcd).toBeNull();
    expect(renderStatusPage(statusDocument(state, clock.now()))).not.toContain('<h2>etcd</h2>');
    const metrics = new AgentMetrics(state);
    expect(await metrics.registry.metrics()).not.toMatch(/^taupage_etcd_/m);
    let registered = false;
    state.etcdStarted(() => ({
      domain: 'etcd.team.example.org',
      server: {
        mode: 'proxy',
        state: 'running',
        pid: 4242,
        listenUrls: ['http://127.0.0.1:2379'],
        peers: ['http://10.0.0.5:2380'],
        starts: 2,
        failures: 1,
        lastError: 'etcd ended (signal SIGKILL)',
      },
      registration: {
        key: '/taupage/ip-10-0-0-1.eu-central-1.compute.internal',
        registered,
        healthy: registered,
        beats: registered ? 3 : 0,
        skipped: 2,
        failures: 1,
        lastBeatAt: undefined,
        lastError: registered ? undefined : 'etcd answered HTTP 500',
      },
    }));
    const document = statusDocument(state, clock.now());
    expect(document.etcd).toMatchObject({
      domain: 'etcd.team.example.org',
      server: { mode: 'proxy', state: 'running', pid: 4242, failures: 1 },
      registration: { registered: false, lastBeatAt: null, lastError: 'etcd answered HTTP 500' },
    });
    expect(formatStatusText(document)).toMatch(
      /^etcd +etcd\.team\.example\.org: local proxy running \(etcd ended \(signal SIGKILL\)\), not registered \(etcd answered HTTP 500\)$/m,
    );
    const page = renderStatusPage(JSON.parse(JSON.stringify(document)) as Record<string, unknown>);
    expect(page).toContain('<section><h2>etcd</h2>');
    expect(page).toContain('<tr><th>discovery domain</th><td>etcd.team.example.org</td></tr>');
    expect(page).toContain(
      '<tr><th>local etcd</th><td>proxy <span class="running">running</span>, pid 4242, listening on http://127.0.0.1:2379, peers http://10.0.0.5:2380; 2 start(s), 1 failure(s), last: etcd ended (signal SIGKILL)</td></tr>',
    );
    expect(page).toContain(
      '<tr><th>heartbeat</th><td><span class="badge bad">not registered</span> /taupage/ip-10-0-0-1.eu-central-1.compute.internal: 0 beat(s), 2 skipped (app not healthy), 1 failure(s), last beat —, last error: etcd answered HTTP 500</td></tr>',
    );
    let text = await metrics.registry.metrics();
    expect(text).toMatch(
      /^taupage_etcd_registered\{key="\/taupage\/ip-10-0-0-1\.eu-central-1\.compute\.internal"\} 0$/m,
    );
    expect(text).toMatch(/^taupage_etcd_heartbeats_total\{outcome="skipped"\} 2$/m);
    expect(text).toMatch(/^taupage_etcd_server_up\{mode="proxy"\} 1$/m);
    expect(text).toMatch(/^taupage_etcd_server_failures_total\{mode="proxy"\} 1$/m);
    registered = true;
    text = await metrics.registry.metrics();
    expect(text).toMatch(/^taupage_etcd_registered\{key="[^"]+"\} 1$/m);
    expect(text).toMatch(/^taupage_etcd_heartbeats_total\{outcome="registered"\} 3$/m);
    expect(formatStatusText(statusDocument(state, clock.now()))).toContain(
      'registered as /taupage/ip-10-0-0-1.eu-central-1.compute.internal',
    );
    expect(renderStatusPage(statusDocument(state, clock.now()))).toContain(
      '<tr><th>heartbeat</th><td><span class="badge ok">registered</span> /taupage/ip-10-0-0-1.eu-central-1.compute.internal: 3 beat(s)',
    );
  });
});

describe('statusDocument uptime', () => {
  it('never goes negative when the wall clock is stepped back after the start (monotonic)', () => {
    const state = newState(); // started at the epoch
    const document = statusDocument(state, -3_600_000) as { agent: { uptimeSeconds: number } };
    expect(document.agent.uptimeSeconds).toBeGreaterThanOrEqual(0);
  });
});
