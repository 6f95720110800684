// The taupage side of bench/logs, as its own process so that its CPU time and peak RSS are
// measured alone: the app container's log → LogPipeline → CloudWatch Logs (the emulator).
// Usage: node logs-runner.mjs <container> <endpoint> <stateDir> <logGroup> <logStream>
import Docker from 'dockerode';
import { pino } from 'pino';
import { Redactor } from '../src/core/redactor.js';
import { AwsCloudWatchLogsDestination } from '../src/logs/aws-cloudwatch-logs-destination.js';
import { ContainerLogSource } from '../src/logs/container-log-source.js';
import { DockerodeContainerLogReader } from '../src/logs/dockerode-container-log-reader.js';
import { LogPipeline } from '../src/logs/log-pipeline.js';

const [container = '', endpoint = '', stateDir = '', logGroup = '', logStream = ''] = process.argv.slice(2);
const log = pino({ level: 'warn' }, pino.destination(2));
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
  destinations: [
    new AwsCloudWatchLogsDestination({
      region: 'eu-central-1',
      endpoint,
      routes: { application: { logGroup, logStream } },
      log,
    }),
  ],
  redactor: new Redactor(),
  log,
});
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void pipeline.stop(10_000).then(() => {
    process.stdout.write(`${JSON.stringify(pipeline.status())}\n`);
    process.exit(0);
  });
});
