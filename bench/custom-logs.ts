// Custom log benchmark: the same file of N lines tailed by the pipeline and shipped to the
// CloudWatch Logs emulator, read two ways: through a pattern with `recordFile` (what
// /var/log-custom/*.log gets when Scalyr ships it: each record carries its file, for Scalyr's
// per-file `logfile`, so lines take the spool's record path and deliveries CloudWatch's record
// path) and through the plain path (the spool's byte path and
// CloudWatch's byte path). Everything runs in this one process, the emulator too.
// Usage: bench/custom-logs [--lines N] [--runs N]
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Redactor } from '../src/core/redactor.js';
import { AwsCloudWatchLogsDestination } from '../src/logs/aws-cloudwatch-logs-destination.js';
import { FileTailSource } from '../src/logs/file-tail-source.js';
import { LogPipeline } from '../src/logs/log-pipeline.js';
import { CloudWatchLogsEmulator } from '../test/emulators/cloudwatch-logs-emulator.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const index = args.indexOf(name);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const LINES = option('--lines', 200_000);
const RUNS = option('--runs', 3);
const log = pino({ level: 'warn' }, pino.destination(2));
const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

process.env.AWS_ACCESS_KEY_ID = 'AKIDBENCH';
process.env.AWS_SECRET_ACCESS_KEY = 'bench-secret';
const cloudwatch = await CloudWatchLogsEmulator.start({ region: 'eu-central-1' });
const work = await mkdtemp(join(tmpdir(), 'taupage-bench-custom-'));
const text = Array.from(
  { length: LINES },
  (_, i) =>
    `2026-12-07 06:30:01.${String(i % 1000).padStart(3, '0')} INFO [worker-${String(i % 16)}] c.e.Batch - processed item ${String(i)} in ${String(i % 90)}ms`,
).join('\n');

async function run(kind: 'pattern' | 'path', index: number): Promise<{ ms: number; cpuMs: number }> {
  const dir = join(work, `${kind}-${String(index)}`);
  await mkdir(join(dir, 'log-custom'), { recursive: true });
  const file = join(dir, 'log-custom', 'app.log');
  await writeFile(file, `${text}\n`);
  const stream = `${kind}-${String(index)}`;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const pipeline = await LogPipeline.start({
    stateDir: join(dir, 'state'),
    sources: [
      new FileTailSource({
        pattern: kind === 'pattern' ? join(dir, 'log-custom', '*.log') : file,
        name: 'customlog',
        maskJwt: true,
        recordFile: true,
        log,
      }),
    ],
    destinations: [
      new AwsCloudWatchLogsDestination({
        region: 'eu-central-1',
        endpoint: cloudwatch.url,
        routes: { customlog: { logGroup: 'bench-custom', logStream: stream } },
        log,
      }),
    ],
    redactor: new Redactor(),
    log,
  });
  for (;;) {
    const delivered = pipeline.status().destinations[0]?.delivered ?? 0;
    if (delivered >= LINES) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  await pipeline.stop(1_000);
  return { ms, cpuMs: (used.user + used.system) / 1000 };
}

const results = {
  pattern: { ms: [] as number[], cpuMs: [] as number[] },
  path: { ms: [] as number[], cpuMs: [] as number[] },
};
for (let i = 0; i < RUNS; i++) {
  for (const kind of ['path', 'pattern'] as const) {
    const r = await run(kind, i);
    results[kind].ms.push(r.ms);
    results[kind].cpuMs.push(r.cpuMs);
  }
}
const line = (kind: 'pattern' | 'path'): string =>
  `${kind.padEnd(8)} lines/s median ${String(Math.round(LINES / (median(results[kind].ms) / 1000)))} (runs: ${results[kind].ms.map((ms) => String(Math.round(LINES / (ms / 1000)))).join(', ')}); process CPU ms median ${String(Math.round(median(results[kind].cpuMs)))} (runs: ${results[kind].cpuMs.map((c) => String(Math.round(c))).join(', ')})`;
process.stdout.write(
  [
    `${String(LINES)} lines of a custom log file, ${String(RUNS)} runs, to the CloudWatch Logs emulator (in-process)`,
    line('path'),
    line('pattern'),
    `pattern/path lines/s: ${(median(results.path.ms) / median(results.pattern.ms)).toFixed(2)}, CPU: ${(median(results.pattern.cpuMs) / median(results.path.cpuMs)).toFixed(2)}`,
    '',
  ].join('\n'),
);
await cloudwatch.close();
await rm(work, { recursive: true, force: true });
