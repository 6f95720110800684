import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
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

// The app container's output read from its log driver's files (local, json-file), through
// dockerd's rotation and compression, a restart of the shipper and a replaced container.
const INSTANCE = 'i-0f11e5f11e5f11e50';
const log = pino({ level: 'silent' });
const quickClock = cappedClock(50);
const docker = new Docker();
const reader = new DockerodeContainerLogReader(docker);
const containers: string[] = [];
const pipelines: LogPipeline[] = [];
let emulator: CloudWatchLogsEmulator;
let dir: string;

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDLOGFILESTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'log-files-test-secret';
  emulator = await CloudWatchLogsEmulator.start();
  dir = await mkdtemp(join(tmpdir(), 'taupage-container-log-files-'));
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

async function runContainer(
  script: string,
  logConfig: { Type: string; Config: Record<string, string> },
  name = `taupage-logfiles-test-${randomUUID().slice(0, 8)}`,
): Promise<string> {
  if (!containers.includes(name)) containers.push(name);
  const container = await docker.createContainer({
    name,
    Image: env.image,
    Entrypoint: ['/bin/sh', '-c'],
    Cmd: [script],
    User: '999:999',
    HostConfig: { LogConfig: logConfig },
  });
  await container.start();
  return name;
}

async function startPipeline(
  container: string,
  group: string,
  stateDir: string,
  via: DockerodeContainerLogReader = reader,
): Promise<LogPipeline> {
  const pipeline = await LogPipeline.start({
    stateDir,
    sources: [
      new ContainerLogSource({ container, reader: via, log, clock: quickClock, reconnectDelayMs: 100 }),
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

async function messages(group: string, atLeast: number): Promise<string[]> {
  return eventually(
    () => {
      const all = emulator.events(group, INSTANCE).map((e) => e.message);
      return Promise.resolve(new Set(all).size >= atLeast ? all : undefined);
    },
    `${atLeast} events in ${group}`,
    60_000,
  );
}

const numbered = (count: number, prefix = 'line'): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix} ${i}`);
const LOCAL = { Type: 'local', Config: {} };

describe('app container output from the log driver’s files (real dockerd, emulator)', () => {
  it('local driver: ships stdout, stderr and a 2 MB line from the files, shown as via files', async () => {
    const container = await runContainer(
      `seq 0 999 | sed 's/^/line /'; echo err >&2; head -c 2097152 /dev/zero | tr '\\0' x; echo; echo after; sleep 3600`,
      LOCAL,
    );
    const group = '/taupage/files-1';
    const pipeline = await startPipeline(container, group, join(dir, 'one'));
    const all = await messages(group, 1004);
    expect(all.filter((m) => m.startsWith('line '))).toEqual(numbered(1000));
    expect(all).toContain('err');
    expect(all.at(-1)).toBe('after');
    expect(all.filter((m) => m.startsWith('x')).join('')).toBe('x'.repeat(2_097_152));
    expect(pipeline.status().sources[0]?.via).toBe('files');
    expect(emulator.violations).toEqual([]);
  });

  it('local driver: a container created before it is started is read from its files once started', async () => {
    // dockerd makes local-logs/ at the start: looking before must not settle for the Docker API.
    let looked = 0;
    class CountingReader extends DockerodeContainerLogReader {
      override logFiles(container: string, signal: AbortSignal) {
        looked++;
        return super.logFiles(container, signal);
      }
    }
    const name = `taupage-logfiles-test-${randomUUID().slice(0, 8)}`;
    containers.push(name);
    const created = await docker.createContainer({
      name,
      Image: env.image,
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ["seq 0 99 | sed 's/^/line /'; sleep 3600"],
      User: '999:999',
      HostConfig: { LogConfig: LOCAL },
    });
    const group = '/taupage/files-created';
    const pipeline = await startPipeline(name, group, join(dir, 'created'), new CountingReader(docker));
    await eventually(() => Promise.resolve(looked >= 2 ? true : undefined), 'the source looked twice');
    await created.start();
    expect(await messages(group, 100)).toEqual(numbered(100));
    expect(pipeline.status().sources[0]?.via).toBe('files');
  });

  for (const driver of ['local', 'json-file']) {
    it(`${driver}: a rotation storm with compression loses nothing and sends nothing twice`, async () => {
      // 40 files of 32 KiB hold all of it: a loss would be the shipper's, not Docker's retention.
      const count = 20_000;
      const container = await runContainer(`seq 0 ${count - 1} | sed 's/^/line /'; sleep 3600`, {
        Type: driver,
        Config: { 'max-size': '32k', 'max-file': '60', compress: 'true' },
      });
      const group = `/taupage/files-storm-${driver}`;
      const pipeline = await startPipeline(container, group, join(dir, `storm-${driver}`));
      const all = await messages(group, count);
      const files = reader.logFiles(container, AbortSignal.timeout(5_000));
      const logDir = (await files)?.path.replace(/\/[^/]+$/, '') ?? '';
      expect((await readdir(logDir)).filter((name) => name.endsWith('.gz')).length).toBeGreaterThan(10);
      expect(all).toEqual(numbered(count));
      expect(pipeline.status().sources[0]?.via).toBe('files');
    });
  }

  it('resumes after a restart of the shipper across rotations, and reads a replaced container from its start', async () => {
    const name = `taupage-logfiles-test-${randomUUID().slice(0, 8)}`;
    const rotating = { Type: 'local', Config: { 'max-size': '32k', 'max-file': '60' } };
    await runContainer(
      `seq 0 4999 | sed 's/^/line /'; sleep 2; seq 5000 9999 | sed 's/^/line /'; sleep 3600`,
      rotating,
      name,
    );
    const group = '/taupage/files-restart';
    const stateDir = join(dir, 'restart');
    const first = await startPipeline(name, group, stateDir);
    await messages(group, 5000);
    await first.stop(5_000);
    pipelines.splice(pipelines.indexOf(first), 1);
    // The second half is written and rotated while no shipper runs.
    await eventually(async () => {
      const logs = await docker.getContainer(name).logs({ stdout: true, follow: false, tail: 1 });
      return logs.toString('latin1').includes('line 9999') ? true : undefined;
    }, 'the second half written');
    const second = await startPipeline(name, group, stateDir);
    await messages(group, 10_000);
    // Replaced: the new container (same name) is read from its start.
    await docker.getContainer(name).remove({ force: true });
    await runContainer(`seq 0 2999 | sed 's/^/next /'; sleep 3600`, rotating, name);
    const all = await messages(group, 13_000);
    await eventually(() => {
      const status = second.status();
      return Promise.resolve(
        status.spool.pendingBytes === 0 && status.destinations[0]?.lagBytes === 0 ? true : undefined,
      );
    }, 'the second shipper caught up');
    expect(all).toEqual([...numbered(10_000), ...numbered(3000, 'next')]);
  });
});
