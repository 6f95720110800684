// The taupage side of bench/logs, as its own process so that its CPU time and peak RSS are
// measured alone: the app container's log → LogPipeline → CloudWatch Logs (the emulator).
// Usage: node logs-runner.mjs <container> <endpoint> <stateDir> <logGroup> <logStream>
import Docker from 'dockerode';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { pino } from 'pino';
import { Redactor } from '../src/core/redactor.js';
import { AwsCloudWatchLogsDestination } from '../src/logs/aws-cloudwatch-logs-destination.js';
import { ContainerLogSource } from '../src/logs/container-log-source.js';
import { DockerodeContainerLogReader } from '../src/logs/dockerode-container-log-reader.js';
import { LogPipeline } from '../src/logs/log-pipeline.js';

const [container = '', endpoint = '', stateDir = '', logGroup = '', logStream = ''] = process.argv.slice(2);
const log = pino({ level: 'warn' }, pino.destination(2));
const destination = new AwsCloudWatchLogsDestination({
  region: 'eu-central-1',
  endpoint,
  routes: { application: { logGroup, logStream } },
  log,
});
if (process.env.BENCH_TRACE) {
  // Timestamps per delivery on stderr: records, start relative to the first, duration.
  const deliver = destination.deliver.bind(destination);
  let t0: number | undefined;
  destination.deliver = async (records, signal) => {
    const start = performance.now();
    t0 ??= start;
    const result = await deliver(records, signal);
    const end = performance.now();
    process.stderr.write(
      `deliver records=${records.length} at=${(start - t0).toFixed(0)} ms=${(end - start).toFixed(0)}\n`,
    );
    return result;
  };
}
const peakMemory: Record<string, number> = {};
if (process.env.BENCH_TRACE) {
  setInterval(() => {
    for (const [key, value] of Object.entries(process.memoryUsage()))
      peakMemory[key] = Math.max(peakMemory[key] ?? 0, Math.round(value / 1048576));
    for (const space of getHeapSpaceStatistics()) {
      const key = `${space.space_name}.used`;
      peakMemory[key] = Math.max(peakMemory[key] ?? 0, Math.round(space.space_used_size / 1048576));
      const size = `${space.space_name}.size`;
      peakMemory[size] = Math.max(peakMemory[size] ?? 0, Math.round(space.space_size / 1048576));
    }
  }, 20).unref();
}
const pipeline = await LogPipeline.start({
  stateDir,
  sources: [
    new ContainerLogSource({
      container,
      reader: new DockerodeContainerLogReader(new Docker()),
      log,
      reconnectDelayMs: 100,
    }),
  ],
  destinations: [destination],
  redactor: new Redactor(),
  log,
});
if (process.env.BENCH_TRACE) {
  // Lines taken from the Docker API so far, every 250 ms once they start coming, and how long
  // the event loop was blocked meanwhile (while it is, nobody reads Docker's stream).
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let t0: number | undefined;
  setInterval(() => {
    const lines = pipeline.status().sources[0]?.lines ?? 0;
    if (lines === 0) return;
    t0 ??= performance.now();
    const ms = (ns: number): string => (ns / 1e6).toFixed(1);
    process.stderr.write(
      `source lines=${lines} at=${(performance.now() - t0).toFixed(0)} loop delay p50=${ms(delay.percentile(50))} p99=${ms(delay.percentile(99))} max=${ms(delay.max)} ms\n`,
    );
    delay.reset();
  }, 250).unref();
  const ready = Object.entries(process.memoryUsage()).map(([k, v]) => `${k}=${Math.round(v / 1048576)}`);
  process.stderr.write(`memory MB at ready: ${ready.join(' ')}\n`);
}
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void pipeline.stop(10_000).then(() => {
    process.stdout.write(`${JSON.stringify(pipeline.status())}\n`);
    if (process.env.BENCH_TRACE) process.stderr.write(`peak memory MB ${JSON.stringify(peakMemory)}\n`);
    process.exit(0);
  });
});
