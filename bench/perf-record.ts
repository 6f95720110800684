// BENCH_PERF=1: `perf record` of one process (all its threads, kernel included) over a stretch
// of a bench run. See bench/README.md ("BENCH_PERF") and bench/perf-breakdown.mjs.
import { spawn } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';

export const PERF_DIR = '/tmp/taupage-bench-perf';
/**
 * BENCH_PERF=syscalls: `perf trace -s` instead (the system calls of each thread, counted and
 * timed, into <label>.syscalls.txt); it slows every call down, so its CPU figures are not the
 * usual ones: for counts only.
 */
const SYSCALLS = process.env.BENCH_PERF === 'syscalls';
/** Samples per second per thread (cpu-clock: this machine has no hardware counters). */
const FREQUENCY = '4000';

export interface PerfRecording {
  readonly file: string;
  /** SIGINT to perf, then waits until it has written the file. */
  stop(): Promise<void>;
}

/**
 * Starts `perf record -g -p <pid>` into PERF_DIR/<label>.data and resolves once perf has
 * attached (its output file has a header), so that the stretch after it is recorded whole.
 */
export async function startPerf(pid: number, label: string): Promise<PerfRecording> {
  await mkdir(PERF_DIR, { recursive: true });
  const file = `${PERF_DIR}/${label}.${SYSCALLS ? 'syscalls.txt' : 'data'}`;
  const command = SYSCALLS
    ? ['trace', '-s', '-p', String(pid), '-o', file]
    : ['record', '-q', '-F', FREQUENCY, '-g', '-p', String(pid), '-o', file];
  const perf = spawn('perf', command, { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => {
    perf.once('exit', () => {
      resolve();
    });
  });
  const deadline = Date.now() + 10_000;
  while ((await stat(file).catch(() => undefined))?.size ? false : Date.now() < deadline) {
    if (perf.exitCode !== null) throw new Error(`perf record exited with ${String(perf.exitCode)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    file,
    stop: async () => {
      perf.kill('SIGINT');
      await exited;
    },
  };
}
