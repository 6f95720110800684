import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/core/redactor.js';
import { AwsCloudWatchLogsDestination } from '../../../src/logs/aws-cloudwatch-logs-destination.js';
import { ContainerLogSource } from '../../../src/logs/container-log-source.js';
import { DockerodeContainerLogReader } from '../../../src/logs/dockerode-container-log-reader.js';
import { LogPipeline } from '../../../src/logs/log-pipeline.js';
import { CloudWatchLogsEmulator } from '../../emulators/cloudwatch-logs-emulator.js';
import { env, eventually } from '../../support/test-env.js';
import { cappedClock } from '../../support/capped-clock.js';

const INSTANCE = 'i-0fedcba9876543210';
const log = pino({ level: 'silent' });
const quickClock = cappedClock(50);
const docker = new Docker();
const containers: string[] = [];
const pipelines: LogPipeline[] = [];
let emulator: CloudWatchLogsEmulator;
let dir: string;

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDLOGSTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'logs-test-secret';
  emulator = await CloudWatchLogsEmulator.start();
  dir = await mkdtemp(join(tmpdir(), 'taupage-container-logs-'));
});
afterEach(async () => {
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(0);
  for (const name of containers.splice(0)) {
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
  }
});
afterAll(async () => {
  await emulator.close();
  await rm(dir, { recursive: true, force: true });
});

async function runContainer(script: string): Promise<string> {
  const name = `taupage-logs-test-${randomUUID().slice(0, 8)}`;
  containers.push(name);
  const container = await docker.createContainer({
    name,
    Image: env.image,
    Entrypoint: ['/bin/sh', '-c'],
    Cmd: [script],
    User: '999:999',
  });
  await container.start();
  return name;
}

async function startPipeline(container: string, group: string, stateDir: string): Promise<LogPipeline> {
  const pipeline = await LogPipeline.start({
    stateDir,
    sources: [
      new ContainerLogSource({
        container,
        reader: new DockerodeContainerLogReader(docker),
        log,
        clock: quickClock,
        reconnectDelayMs: 100,
      }),
    ],
    destinations: [
      new AwsCloudWatchLogsDestination({
        region: emulator.region,
        endpoint: emulator.url,
        routes: { application: { logGroup: group, logStream: INSTANCE } },
        log,
        clock: quickClock,
      }),
    ],
    redactor: new Redactor(),
    log,
    clock: quickClock,
    lingerMs: 50,
  });
  pipelines.push(pipeline);
  return pipeline;
}

const numberedScript = (count: number, prefix = 'line'): string =>
  `i=0; while [ $i -lt ${count} ]; do echo ${prefix} $i; i=$((i+1)); done; sleep 3600`;

async function messages(group: string, atLeast: number): Promise<string[]> {
  return eventually(() => {
    const all = emulator.events(group, INSTANCE).map((e) => e.message);
    return Promise.resolve(new Set(all).size >= atLeast ? all : undefined);
  }, `${atLeast} events in ${group}`);
}

describe('app container output → CloudWatch Logs (real dockerd, emulator)', () => {
  it('ships every numbered line of stdout and stderr, with Docker timestamps, while docker logs keeps working', async () => {
    const container = await runContainer(
      `${numberedScript(1000)} & i=0; while [ $i -lt 10 ]; do echo err $i >&2; i=$((i+1)); done; wait`,
    );
    const group = '/taupage/container-1';
    await startPipeline(container, group, join(dir, 'one'));
    const all = await messages(group, 1010);
    expect(all.filter((m) => m.startsWith('line '))).toEqual(
      Array.from({ length: 1000 }, (_, i) => `line ${i}`),
    );
    expect(all.filter((m) => m.startsWith('err ')).length).toBe(10);
    const events = emulator.events(group, INSTANCE);
    const started = Date.parse((await docker.getContainer(container).inspect()).State.StartedAt);
    expect(events[0]?.timestamp).toBeGreaterThanOrEqual(started - 1000);
    const logs = await docker.getContainer(container).logs({ stdout: true, follow: false });
    expect(logs.toString('latin1')).toContain('line 999');
    expect(emulator.violations).toEqual([]);
  });

  it('joins Docker’s 16 KiB partial entries and splits a 2 MB line into three events that join back', async () => {
    const container = await runContainer(
      "echo before; head -c 2097152 /dev/zero | tr '\\0' x; echo; echo after; sleep 3600",
    );
    const group = '/taupage/container-2';
    await startPipeline(container, group, join(dir, 'two'));
    const all = await messages(group, 4);
    await eventually(
      () => Promise.resolve(emulator.events(group, INSTANCE).length >= 5 ? true : undefined),
      '5 events',
    );
    const events = emulator.events(group, INSTANCE).map((e) => e.message);
    expect(events[0]).toBe('before');
    expect(events.at(-1)).toBe('after');
    expect(events.slice(1, -1).map((m) => m.length)).toEqual([
      1_048_550,
      1_048_550,
      2_097_152 - 2 * 1_048_550,
    ]);
    expect(events.slice(1, -1).join('')).toBe('x'.repeat(2_097_152));
    expect(all.length).toBe(5);
  });

  it('resumes from its checkpoint after a restart of the shipper: no gaps, no duplicates', async () => {
    const container = await runContainer(
      `${numberedScript(500)} & sleep 2; i=500; while [ $i -lt 1000 ]; do echo line $i; i=$((i+1)); done; wait`,
    );
    const group = '/taupage/container-3';
    const stateDir = join(dir, 'three');
    const first = await startPipeline(container, group, stateDir);
    await messages(group, 500);
    await first.stop(5_000);
    pipelines.splice(pipelines.indexOf(first), 1);
    const second = await startPipeline(container, group, stateDir);
    const all = await messages(group, 1000);
    // Count once the second shipper has sent everything it read (a duplicate would be in by then).
    await eventually(() => {
      const status = second.status();
      const caughtUp = status.spool.pendingBytes === 0 && status.destinations[0]?.lagBytes === 0;
      return Promise.resolve(caughtUp && (status.sources[0]?.lines ?? 0) >= 500 ? true : undefined);
    }, 'the second shipper caught up');
    expect([...new Set(all)].sort()).toEqual(Array.from({ length: 1000 }, (_, i) => `line ${i}`).sort());
    expect(emulator.events(group, INSTANCE).length).toBe(1000);
  });
});
