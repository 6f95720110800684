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

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const index = args.indexOf(name);
  return index >= 0 ? (args[index + 1] ?? fallback) : fallback;
};
const LINES = Number(option('--lines', '200000'));
const RUNNER = option('--runner', '');
const IMAGE = option('--image', process.env.TAUPAGE_TEST_IMAGE ?? '');
const TIMEOUT_MS = 300_000;
const STREAM = 'i-0bench0000000000';
const USER_HZ = 100;
const docker = new Docker();

interface Result {
  readonly shipper: string;
  readonly lines: number;
  readonly seconds?: number;
  readonly linesPerSecond?: number;
  readonly distinct?: number;
  readonly missing?: number;
  readonly duplicates?: number;
  readonly cpuSeconds?: number;
  readonly peakRssMb?: number;
  readonly dockerdCpuSeconds?: number;
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

async function producedSeconds(name: string): Promise<number | undefined> {
  try {
    const first = await docker
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

async function runTaupage(emulator: CloudWatchLogsEmulator, work: string): Promise<Result> {
  const name = `taupage-bench-logs-${randomUUID().slice(0, 8)}`;
  const group = `/bench/taupage/${name}`;
  const container = await docker.createContainer({
    name,
    Image: IMAGE,
    Entrypoint: ['/bin/sh', '-c'],
    Cmd: [script],
  });
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
    await container.remove({ force: true }).catch(() => undefined);
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
    process.execPath,
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
        AWS_ACCESS_KEY_ID: 'AKIDBENCH',
        AWS_SECRET_ACCESS_KEY: 'bench-secret',
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
  const container = await docker.createContainer({
    name,
    Image: IMAGE,
    Entrypoint: ['/bin/sh', '-c'],
    Cmd: [script],
  });
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
    await container.remove({ force: true }).catch(() => undefined);
  }
}

async function runAwslogs(emulator: CloudWatchLogsEmulator): Promise<Result> {
  const name = `taupage-bench-awslogs-${randomUUID().slice(0, 8)}`;
  const group = `/bench/awslogs/${name}`;
  let container: Docker.Container | undefined;
  try {
    container = await docker.createContainer({
      name,
      Image: IMAGE,
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: [script],
      HostConfig: {
        LogConfig: {
          Type: 'awslogs',
          Config: {
            'awslogs-region': emulator.region,
            'awslogs-endpoint': emulator.url,
            'awslogs-group': group,
            'awslogs-stream': STREAM,
            'awslogs-create-group': 'true',
          },
        },
      },
    });
    const dockerd = await dockerdPid();
    const dockerd0 = dockerd ? await cpuSeconds(dockerd) : 0;
    const t0 = Date.now();
    await container.start();
    const t1 = await waitForAll(emulator, group);
    const seconds = (t1 - t0) / 1000;
    return {
      shipper: 'docker awslogs driver',
      lines: LINES,
      seconds,
      linesPerSecond: Math.round(LINES / seconds),
      ...check(emulator.events(group, STREAM).map((e) => e.message)),
      ...(dockerd ? { dockerdCpuSeconds: (await cpuSeconds(dockerd)) - dockerd0 } : {}),
    };
  } catch (error) {
    const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    return { shipper: 'docker awslogs driver', lines: LINES, error: message };
  } finally {
    await container?.remove({ force: true }).catch(() => undefined);
  }
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

async function main(): Promise<void> {
  if (!RUNNER || !IMAGE)
    throw new Error('usage: logs.mjs --runner <logs-runner.mjs> [--lines N] [--image IMAGE]');
  console.log(
    `bench/logs: ${LINES} lines, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const emulator = await CloudWatchLogsEmulator.start();
  const work = await mkdtemp(join(tmpdir(), 'taupage-bench-logs-'));
  try {
    const taupage = await runTaupage(emulator, work);
    const killed = await runKillRestart(emulator, work);
    const awslogs = await runAwslogs(emulator);
    const results = [taupage, killed, awslogs];
    console.log('');
    console.log(
      `Docker logs API alone (timestamps, same ${LINES} lines): ${fmt(taupage.apiCeilingLinesPerSecond)} lines/s`,
    );
    console.log(
      '| shipper | lines/s end to end | seconds | lines produced in (s) | missing | duplicates | shipper CPU s | peak RSS MB | dockerd CPU s |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const r of results) {
      if (r.error !== undefined) {
        console.log(`| ${r.shipper} | not measured: ${r.error} | | | | | | | |`);
        continue;
      }
      console.log(
        `| ${r.shipper} | ${fmt(r.linesPerSecond)} | ${fmt(r.seconds, 2)} | ${fmt(r.producedSeconds, 2)} | ${fmt(r.missing)} | ${fmt(r.duplicates)} | ${fmt(r.cpuSeconds, 2)} | ${fmt(r.peakRssMb)} | ${fmt(r.dockerdCpuSeconds, 2)} |`,
      );
    }
    const pass = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
    console.log('');
    console.log(`target >= 50,000 lines/s: ${pass((taupage.linesPerSecond ?? 0) >= 50_000)}`);
    console.log(`target peak RSS <= 150 MB: ${pass((taupage.peakRssMb ?? Infinity) <= 150)}`);
    console.log(`target zero lost lines: ${pass(taupage.missing === 0)}`);
    console.log(
      `kill -9 and restart: no gaps: ${pass(killed.missing === 0)} (duplicates: ${fmt(killed.duplicates)})`,
    );
    if (awslogs.linesPerSecond !== undefined) {
      console.log(
        `target >= awslogs driver: ${pass((taupage.linesPerSecond ?? 0) >= awslogs.linesPerSecond)}`,
      );
    }
    console.log(`emulator limit violations: ${emulator.violations.length}`);
    await mkdir('bench/results', { recursive: true });
    const file = `bench/results/logs-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    await writeFile(file, JSON.stringify({ lines: LINES, loadavg: loadavg(), results }, null, 2));
    console.log(`raw results: ${file}`);
  } finally {
    await emulator.close();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
