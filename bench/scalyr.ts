// Scalyr destination benchmark: the same records (spool lines, as the worker hands them over) delivered to the Scalyr addEvents emulator
// (ScalyrDestination: JSON bodies, gzip) and to the CloudWatch Logs emulator
// (AwsCloudWatchLogsDestination), the baseline. Everything runs in this one process, the
// emulators too (they decompress and check every event), so the figures compare the two paths
// end to end on one core, not the destinations alone.
// Usage: bench/scalyr [--lines N] [--runs N]
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { Secret } from '../src/core/secret.js';
import { AwsCloudWatchLogsDestination } from '../src/logs/aws-cloudwatch-logs-destination.js';
import type { LogDestination } from '../src/logs/log-destination.js';
import type { LogRecord } from '../src/logs/log-record.js';
import { ScalyrDestination } from '../src/logs/scalyr-destination.js';
import { addEventsRequests, SessionTimestamps } from '../src/logs/scalyr-events.js';
import { gzipSync } from 'node:zlib';
import { EncodedRecordBatch, encodeRecord, type RecordBatch } from '../src/logs/spool-records.js';
import { CloudWatchLogsEmulator } from '../test/emulators/cloudwatch-logs-emulator.js';
import { ScalyrEmulator } from '../test/emulators/scalyr-emulator.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const index = args.indexOf(name);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const LINES = option('--lines', 200_000);
const RUNS = option('--runs', 3);
// What the worker hands a destination at most: 2 MiB of spool.
const DELIVERY_BYTES = 2 * 1024 * 1024;
const log = pino({ level: 'warn' }, pino.destination(2));

function records(): LogRecord[][] {
  const start = Date.now();
  const batches: LogRecord[][] = [];
  let batch: LogRecord[] = [];
  let bytes = 0;
  for (let i = 0; i < LINES; i++) {
    const message = `2026-12-07 03:45:01.${String(i % 1000).padStart(3, '0')} INFO [qtp1-${String(i % 64)}] o.z.pierone.Handler - PUT /v1/images/team/app-${String(i % 97)}/1.${String(i)} <- 10.0.${String(i % 255)}.7 200 ${String(i % 90)}ms`;
    batch.push({ source: 'application', timestamp: start + Math.floor(i / 50), message });
    bytes += message.length + 40;
    if (bytes >= DELIVERY_BYTES) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** A delivery as the worker hands it over: spool lines, decoded only if a destination asks. */
function spoolBatch(records: LogRecord[]): RecordBatch {
  const lines = Buffer.from(records.map((r) => encodeRecord(r, JSON.stringify(r.source))).join(''));
  return new EncodedRecordBatch(lines, records.length);
}

async function run(
  destination: LogDestination,
  batches: LogRecord[][],
): Promise<{ ms: number; cpuMs: number }> {
  // Made before the clock starts (the spool's work, not the destination's); a fresh batch each
  // run, as an EncodedRecordBatch keeps what it decoded.
  const deliveries = batches.map(spoolBatch);
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const batch of deliveries) await destination.deliver(batch, AbortSignal.timeout(120_000));
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000 };
}

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

const key = randomBytes(16).toString('hex');
const scalyr = await ScalyrEmulator.start(key);
process.env.AWS_ACCESS_KEY_ID = 'AKIDBENCH';
process.env.AWS_SECRET_ACCESS_KEY = 'bench-secret';
const cloudwatch = await CloudWatchLogsEmulator.start({ region: 'eu-central-1' });
const batches = records();
const results: Record<string, { ms: number[]; cpuMs: number[] }> = {
  scalyr: { ms: [], cpuMs: [] },
  cloudwatch: { ms: [], cpuMs: [] },
};
let sent = 0;
let json = 0;
for (let runIndex = 0; runIndex < RUNS; runIndex++) {
  const requestsBefore = scalyr.requests.length;
  const s = await run(
    new ScalyrDestination({
      url: `${scalyr.url}/addEvents`,
      token: new Secret(key),
      sessionInfo: { serverHost: 'bench' },
      routes: { application: { logfile: '/var/log/application.log', parser: 'slf4j', sampling: [] } },
      log,
    }),
    batches,
  );
  results.scalyr?.ms.push(s.ms);
  results.scalyr?.cpuMs.push(s.cpuMs);
  const requests = scalyr.requests.slice(requestsBefore);
  sent = requests.reduce((sum, r) => sum + r.sentBytes, 0);
  json = requests.reduce((sum, r) => sum + Buffer.byteLength(r.body), 0);
  const c = await run(
    new AwsCloudWatchLogsDestination({
      region: 'eu-central-1',
      endpoint: cloudwatch.url,
      routes: { application: { logGroup: 'bench', logStream: `run-${String(runIndex)}` } },
      log,
    }),
    batches,
  );
  results.cloudwatch?.ms.push(c.ms);
  results.cloudwatch?.cpuMs.push(c.cpuMs);
}
// The destination's own work without HTTP or emulator: bodies made and gzipped (level 3).
const buildCpu: number[] = [];
for (let runIndex = 0; runIndex < RUNS; runIndex++) {
  const stamps = new SessionTimestamps();
  const deliveries = batches.map(spoolBatch);
  const cpu = process.cpuUsage();
  for (const batch of deliveries) {
    const { requests } = addEventsRequests(batch, stamps, {
      session: 's',
      sessionInfo: { serverHost: 'bench' },
      routes: { application: { logfile: '/var/log/application.log', parser: 'slf4j', sampling: [] } },
      maxRequestBytes: 1_000_000,
      maxMessageBytes: 49_900,
      random: Math.random,
    });
    for (const request of requests)
      gzipSync(Buffer.concat([Buffer.from(`{"token":"${key}"`), request.body]), { level: 3 });
  }
  const used = process.cpuUsage(cpu);
  buildCpu.push((used.user + used.system) / 1000);
}
const line = (name: string): string => {
  const r = results[name] ?? { ms: [], cpuMs: [] };
  return `${name.padEnd(10)} lines/s median ${String(Math.round(LINES / (median(r.ms) / 1000)))} (runs: ${r.ms.map((ms) => String(Math.round(LINES / (ms / 1000)))).join(', ')}); process CPU ms median ${String(Math.round(median(r.cpuMs)))}`;
};
process.stdout.write(
  [
    `${String(LINES)} lines in ${String(batches.length)} deliveries, ${String(RUNS)} runs (emulators in-process)`,
    line('scalyr'),
    line('cloudwatch'),
    `scalyr ratio (scalyr/cloudwatch) lines/s: ${(median(results.cloudwatch?.ms ?? []) / median(results.scalyr?.ms ?? [])).toFixed(2)}`,
    `scalyr bodies made and gzipped, no HTTP: CPU ms median ${String(Math.round(median(buildCpu)))} (runs: ${buildCpu.map((ms) => String(Math.round(ms))).join(', ')})`,
    `scalyr wire bytes: ${String(sent)} gzip for ${String(json)} bytes of JSON (${(json / sent).toFixed(1)}x), ${(sent / LINES).toFixed(1)} bytes/line`,
    '',
  ].join('\n'),
);
await scalyr.stop();
await cloudwatch.close();
