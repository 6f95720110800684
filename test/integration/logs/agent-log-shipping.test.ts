import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLogShipping } from '../../../src/app/compose-logs.js';
import { loadConfig } from '../../../src/config/load-config.js';
import type { TaupageConfig } from '../../../src/config/taupage-config.js';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import { AgentLogSource } from '../../../src/logs/agent-log-source.js';
import { AwsCloudWatchLogsDestination } from '../../../src/logs/aws-cloudwatch-logs-destination.js';
import { LogPipeline } from '../../../src/logs/log-pipeline.js';
import type { InstanceIdentity } from '../../../src/metadata/instance-metadata.js';
import { CloudWatchLogsEmulator } from '../../emulators/cloudwatch-logs-emulator.js';
import { eventually } from '../../support/test-env.js';
import { cappedClock } from '../../support/capped-clock.js';

const identity: InstanceIdentity = {
  instanceId: 'i-0agentlog0000001',
  region: 'eu-central-1',
  availabilityZone: 'eu-central-1a',
  accountId: '123456789012',
  privateIp: undefined,
  imageId: undefined,
  instanceType: undefined,
  autoScalingGroupName: undefined,
};
// Real time, but no backoff longer than 20 ms: many failed deliveries in a short test.
const quickClock = cappedClock(20);

let emulator: CloudWatchLogsEmulator;
let dir = '';
const pipelines: LogPipeline[] = [];

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDAGENTLOG';
  process.env.AWS_SECRET_ACCESS_KEY = 'agent-log-secret';
  emulator = await CloudWatchLogsEmulator.start({
    credentials: [{ accessKeyId: 'AKIDAGENTLOG', secretAccessKey: 'agent-log-secret' }],
  });
  dir = await mkdtemp(join(tmpdir(), 'taupage-agent-log-'));
});
afterEach(async () => {
  emulator.setOutage(false);
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(5_000);
});
afterAll(async () => {
  await emulator.close();
  await rm(dir, { recursive: true, force: true });
});

function config(yaml: string): TaupageConfig {
  const text = `#taupage-ami-config\nruntime: Docker\nsource: registry.example.org/team/app:1.0\n${yaml}`;
  const { config: loaded, errors } = loadConfig(Buffer.from(text), {}).validation;
  expect(errors).toEqual([]);
  if (loaded === undefined) throw new Error('invalid config');
  return loaded;
}

/** The agent's logger as compose.ts builds it: stdout (here: kept lines) teed into the source. */
function agentLogger(redactor: Redactor): {
  agentLog: AgentLogSource;
  stdout: string[];
  log: ReturnType<typeof createLogger>;
} {
  const stdout: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      stdout.push(chunk.toString());
      callback();
    },
  });
  const agentLog = new AgentLogSource();
  return { agentLog, stdout, log: createLogger({ redactor, destination, tee: agentLog }) };
}

let groups = 0;
const uniqueGroup = (): string => `/taupage/agent-${String(process.pid)}-${String(++groups)}`;

describe('cloudwatch_logs /var/log/taupage.log: the agent log reaches CloudWatch Logs', () => {
  it('ships the lines logged before the pipeline started, then later ones, scrubbed, one stream per instance', async () => {
    const redactor = new Redactor();
    const { agentLog, stdout, log } = agentLogger(redactor);
    const plaintext = 'agent-log-kms-plaintext-4711';
    redactor.register(plaintext);
    log.child({ component: 'config' }).info({ digest: 'abc' }, 'Config valid');
    log.child({ component: 'kms' }).warn(`decrypted ${plaintext} (must never show)`);
    const group = uniqueGroup();
    const pipeline = await startLogShipping({
      config: config(`cloudwatch_logs:\n  /var/log/taupage.log: "${group}"\n`),
      identity,
      containerName: 'unused',
      stateDir: join(dir, 'state-1'),
      cloudWatchLogsEndpoint: emulator.url,
      agentLog,
      redactor,
      log: log.child({ component: 'logs' }),
    });
    if (pipeline === undefined) throw new Error('no pipeline');
    pipelines.push(pipeline);
    log.info('Boot completed in 1.0 s');

    const messages = await eventually(() => {
      const shipped = emulator.events(group, identity.instanceId).map((event) => event.message);
      return Promise.resolve(shipped.some((m) => m.includes('Boot completed')) ? shipped : undefined);
    }, 'the agent log in CloudWatch Logs');
    const parsed = messages.map((m) => JSON.parse(m) as Record<string, unknown>);
    expect(parsed.map((line) => line.msg)).toEqual(
      expect.arrayContaining([
        'Config valid',
        'decrypted [redacted] (must never show)',
        'Shipping logs',
        'Boot completed in 1.0 s',
      ]),
    );
    // In the order they were logged, as the journal has them.
    expect(messages).toEqual(stdout.map((line) => line.trimEnd()).slice(0, messages.length));
    expect(emulator.streams(group)).toEqual([identity.instanceId]);
    expect(`${messages.join('\n')}\n${stdout.join('')}`).not.toContain(plaintext);
    expect(emulator.violations).toEqual([]);
    expect(pipeline.status().sources).toEqual([expect.objectContaining({ name: 'taupage', running: true })]);
  });

  it('stops buffering when the config does not ship the agent log', async () => {
    const { agentLog, log } = agentLogger(new Redactor());
    log.info('a boot line');
    expect(agentLog.status()).toMatchObject({ state: 'buffering', queuedLines: 1 });
    const pipeline = await startLogShipping({
      config: config(''),
      identity,
      containerName: 'unused',
      stateDir: join(dir, 'state-2'),
      cloudWatchLogsEndpoint: emulator.url,
      agentLog,
      redactor: new Redactor(),
      log,
    });
    expect(pipeline).toBeUndefined();
    for (let i = 0; i < 100; i++) log.info('later line');
    expect(agentLog.status()).toMatchObject({ state: 'off', queuedLines: 0 });
  });

  it('does not feed on itself while CloudWatch Logs is down: one warning per failed delivery, shipped once it is back', async () => {
    const redactor = new Redactor();
    const { agentLog, stdout, log } = agentLogger(redactor);
    const group = uniqueGroup();
    emulator.createLogGroup(group);
    emulator.setOutage('unavailable');
    // The pipeline logs into the same logger whose lines it ships, as in the agent.
    const pipeline = await LogPipeline.start({
      stateDir: join(dir, 'state-3'),
      sources: [agentLog],
      destinations: [
        new AwsCloudWatchLogsDestination({
          region: emulator.region,
          endpoint: emulator.url,
          routes: { taupage: { logGroup: group, logStream: identity.instanceId } },
          log: log.child({ destination: 'cloudwatch-logs' }),
          clock: quickClock,
        }),
      ],
      redactor,
      log: log.child({ component: 'logs' }),
      clock: quickClock,
      lingerMs: 20,
      spool: { flushIntervalMs: 10 },
    });
    pipelines.push(pipeline);
    log.info('before the outage ends');
    const failures = (): number => pipeline.status().destinations[0]?.failures ?? 0;
    await eventually(() => Promise.resolve(failures() >= 20 ? true : undefined), '20 failed deliveries');
    const lines = pipeline.status().sources[0]?.lines ?? 0;
    const requests = emulator.calls.PutLogEvents ?? 0;
    // Each failed delivery logs a warning (its inner request retries log nothing): the agent log
    // grows with the failures, not with what it ships.
    expect(lines).toBeLessThanOrEqual(failures() + 5);
    expect(stdout.length).toBeLessThanOrEqual(failures() + 5);
    expect(requests).toBeGreaterThan(0);

    emulator.setOutage(false);
    const shipped = await eventually(() => {
      const messages = emulator.events(group, identity.instanceId).map((event) => event.message);
      return Promise.resolve(messages.some((m) => m.includes('Delivered logs again')) ? messages : undefined);
    }, 'the outage warnings in CloudWatch Logs');
    expect(
      shipped.filter((m) => m.includes('Failed to deliver logs, retrying')).length,
    ).toBeGreaterThanOrEqual(20);
    expect(shipped.some((m) => m.includes('before the outage ends'))).toBe(true);
    expect(pipeline.status().lostRecords).toBe(0);
  });
});
