import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Docker from 'dockerode';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLogShipping } from '../../../src/app/compose-logs.js';
import { loadConfig } from '../../../src/config/load-config.js';
import type { TaupageConfig } from '../../../src/config/taupage-config.js';
import { Redactor } from '../../../src/core/redactor.js';
import { buildContainerSpec } from '../../../src/docker/container-spec.js';
import { DockerodeContainerRuntime } from '../../../src/docker/dockerode-container-runtime.js';
import { ApplicationLogDestination, dockerdPid } from '../../../src/logs/application-log-destination.js';
import type { LogPipeline } from '../../../src/logs/log-pipeline.js';
import type { LogRecord } from '../../../src/logs/log-record.js';
import type { RotationPolicy } from '../../../src/logs/log-rotation.js';
import { EncodedRecordBatch, encodeRecord, recordBatch } from '../../../src/logs/spool-records.js';
import type { InstanceIdentity } from '../../../src/metadata/instance-metadata.js';
import { env, eventually, testEnv } from '../../support/test-env.js';

// /var/log/application.log (issue 19, item 3): the app's output as the original's rsyslog wrote
// it, rotated by the agent per application_logrotate_*, on real files and a real container.
const log = pino({ level: 'silent' });
const docker = new Docker();
const identity: InstanceIdentity = {
  instanceId: 'i-0applog000000001',
  region: 'eu-central-1',
  availabilityZone: 'eu-central-1a',
  accountId: '123456789012',
  privateIp: undefined,
  imageId: undefined,
  instanceType: undefined,
  autoScalingGroupName: undefined,
};
const LINE = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d applog-host docker\/[0-9a-f]{12}\[4242\]: /;
let dir = '';
const containers: string[] = [];
const pipelines: LogPipeline[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-application-log-'));
});
afterEach(async () => {
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(5_000);
  for (const name of containers.splice(0))
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function config(yaml: string): TaupageConfig {
  const text = `#taupage-ami-config\nruntime: Docker\nsource: ${env.image}\napplication_id: hello\n${yaml}`;
  const { config: loaded, errors } = loadConfig(Buffer.from(text), {}).validation;
  expect(errors).toEqual([]);
  if (loaded === undefined) throw new Error('invalid config');
  return loaded;
}

function destination(path: string, rotation: RotationPolicy, now: () => number) {
  return new ApplicationLogDestination({
    path,
    source: 'application',
    hostname: 'applog-host',
    containerId: () => '800488d94562aaaabbbbcccc',
    pid: () => Promise.resolve(4242),
    rotation,
    now,
    log,
  });
}

const records = (from: number, count: number, timestamp: number) =>
  recordBatch(
    Array.from({ length: count }, (_, i) => ({
      source: 'application',
      timestamp,
      message: `line ${from + i}`,
    })),
  );

/**
 * Delivers `records` once as objects and once as spool lines, each to its own file under
 * `dir/<name>`; expects the same bytes from both and returns them.
 */
async function writtenBothWays(name: string, records: readonly LogRecord[], now: number): Promise<string> {
  const policy: RotationPolicy = {
    sizeBytes: 1024 ** 3,
    interval: 'weekly',
    keep: 1,
    compress: false,
    delayCompress: false,
  };
  const fromRecords = join(dir, name, 'records.log');
  const fromSpool = join(dir, name, 'spool.log');
  const a = destination(fromRecords, policy, () => now);
  await a.deliver(recordBatch(records));
  await a.close();
  const b = destination(fromSpool, policy, () => now);
  const encoded = Buffer.from(records.map((r) => encodeRecord(r, JSON.stringify(r.source))).join(''));
  await b.deliver(new EncodedRecordBatch(encoded, records.length));
  await b.close();
  const written = await readFile(fromRecords, 'utf8');
  expect(await readFile(fromSpool, 'utf8')).toBe(written);
  return written;
}

describe('/var/log/application.log', () => {
  it('writes syslog lines as rsyslog did and rotates at the size: N kept, compress, delaycompress', async () => {
    const path = join(dir, 'size', 'application.log');
    const policy: RotationPolicy = {
      sizeBytes: 200,
      interval: 'weekly',
      keep: 3,
      compress: true,
      delayCompress: true,
    };
    const now = Date.parse('2026-05-21T11:06:04Z');
    const sink = destination(path, policy, () => now);
    // Each delivery is about 230 bytes: every one after the first rotates the file first.
    for (let round = 0; round < 6; round++) await sink.deliver(records(round * 4, 4, now));
    await sink.close();
    expect((await readdir(join(dir, 'size'))).sort()).toEqual([
      'application.log',
      'application.log.1',
      'application.log.2.gz',
      'application.log.3.gz',
    ]);
    const current = await readFile(path, 'utf8');
    expect(current.split('\n')[0]).toBe('May 21 11:06:04 applog-host docker/800488d94562[4242]: line 20');
    expect(current).toMatch(LINE);
    expect(await readFile(`${path}.1`, 'utf8')).toContain(': line 16\n');
    expect(gunzipSync(await readFile(`${path}.2.gz`)).toString()).toContain(': line 12\n');
    expect(gunzipSync(await readFile(`${path}.3.gz`)).toString()).toContain(': line 8\n');
    expect((await stat(path)).mode & 0o777).toBe(0o640);
  });

  it('writes the same bytes from spool lines as from records, escapes and other sources included', async () => {
    const now = Date.parse('2026-05-21T11:06:04Z');
    const records = [
      { source: 'application', timestamp: now, message: 'plain line' },
      { source: '/var/log/syslog', timestamp: now, message: 'not the app' },
      { source: 'application', timestamp: now + 1500, message: 'quote " backslash \\ tab \t ünï' },
      { source: 'application', timestamp: now + 1500, message: '' },
    ];
    const expected = await writtenBothWays('same', records, now);
    expect(expected.split('\n')).toEqual([
      'May 21 11:06:04 applog-host docker/800488d94562[4242]: plain line',
      'May 21 11:06:05 applog-host docker/800488d94562[4242]: quote " backslash \\ tab \t ünï',
      'May 21 11:06:05 applog-host docker/800488d94562[4242]: ',
      '',
    ]);
  });

  it('writes a delivery of many pieces whole and in order, a line longer than a piece included, from spool lines as from records', async () => {
    const now = Date.parse('2026-05-21T11:06:04Z');
    // ~1.6 MB of syslog lines (written in pieces of about 256 KiB), over several seconds, other
    // sources in between, one escaped line and one line of 600,000 bytes in the middle.
    const records = Array.from({ length: 20_000 }, (_, i) => ({
      source: i % 7 === 3 ? '/var/log/syslog' : 'application',
      timestamp: now + i * 3,
      message:
        i === 9_999 ? 'x'.repeat(600_000) : i === 12_345 ? `quote " ${String(i)}` : `line ${String(i)}`,
    }));
    const written = await writtenBothWays('pieces', records, now);
    const lines = written.split('\n');
    const ours = records.filter((r) => r.source === 'application');
    expect(lines).toHaveLength(ours.length + 1);
    expect(lines.map((line) => line.replace(LINE, ''))).toEqual([...ours.map((r) => r.message), '']);
    expect(lines[0]).toBe('May 21 11:06:04 applog-host docker/800488d94562[4242]: line 0');
    expect(lines.at(-2)).toBe('May 21 11:07:03 applog-host docker/800488d94562[4242]: line 19999');
  });

  it('rotates when the period changed (interval), keeps none with rotate 0, compresses at once without delaycompress', async () => {
    const path = join(dir, 'interval', 'application.log');
    let now = Date.parse('2026-12-07T10:00:00Z');
    const hourly = destination(
      path,
      { sizeBytes: 1024 ** 2, interval: 'hourly', keep: 2, compress: true, delayCompress: false },
      () => now,
    );
    await hourly.deliver(records(0, 2, now));
    now += 30 * 60_000;
    await hourly.deliver(records(2, 2, now));
    expect(await readdir(join(dir, 'interval'))).toEqual(['application.log']);
    now += 31 * 60_000; // the next hour
    await hourly.deliver(records(4, 2, now));
    await hourly.close();
    expect((await readdir(join(dir, 'interval'))).sort()).toEqual([
      'application.log',
      'application.log.1.gz',
    ]);
    expect(
      gunzipSync(await readFile(`${path}.1.gz`))
        .toString()
        .trim()
        .split('\n'),
    ).toHaveLength(4);

    const none = join(dir, 'none', 'application.log');
    const dropping = destination(
      none,
      { sizeBytes: 10, interval: 'weekly', keep: 0, compress: true, delayCompress: true },
      () => now,
    );
    await dropping.deliver(records(0, 2, now));
    await dropping.deliver(records(2, 1, now));
    await dropping.close();
    expect(await readdir(join(dir, 'none'))).toEqual(['application.log']);
    expect(await readFile(none, 'utf8')).toMatch(/: line 2\n$/);
  });

  it('takes the tag’s pid from dockerd’s pidfile, read again for a new container; the agent’s pid without one', async () => {
    const pidFile = join(dir, 'pid', 'docker.pid');
    await mkdir(join(dir, 'pid'), { recursive: true });
    expect(await dockerdPid(pidFile, 77)).toBe(77);
    await writeFile(pidFile, 'not a pid\n');
    expect(await dockerdPid(pidFile, 77)).toBe(77);
    await writeFile(pidFile, '781\n');
    expect(await dockerdPid(pidFile, 77)).toBe(781);

    const path = join(dir, 'pid', 'application.log');
    let container = '800488d94562aaaabbbbcccc';
    let reads = 0;
    const sink = new ApplicationLogDestination({
      path,
      source: 'application',
      hostname: 'applog-host',
      containerId: () => container,
      pid: () => {
        reads++;
        return dockerdPid(pidFile, 77);
      },
      rotation: { sizeBytes: 1e9, interval: 'weekly', keep: 4, compress: false, delayCompress: false },
      now: () => Date.now(),
      log,
    });
    const now = Date.parse('2026-05-21T11:06:04Z');
    await sink.deliver(records(0, 1, now));
    await sink.deliver(records(1, 1, now));
    // dockerd restarted (new pid) and the app with it (new container).
    await writeFile(pidFile, '9001\n');
    container = '123456789abcdddd';
    await sink.deliver(records(2, 1, now));
    await sink.close();
    expect(reads).toBe(2);
    expect((await readFile(path, 'utf8')).split('\n')).toEqual([
      'May 21 11:06:04 applog-host docker/800488d94562[781]: line 0',
      'May 21 11:06:04 applog-host docker/800488d94562[781]: line 1',
      'May 21 11:06:04 applog-host docker/123456789abc[9001]: line 2',
      '',
    ]);
  });

  it('carries the app container’s output there (scrubbed), seen by a mount_var_log container at /var/log-host', async () => {
    const varLog = join(dir, 'var-log');
    await mkdir(varLog, { recursive: true });
    const path = join(varLog, 'application.log');
    const redactor = new Redactor();
    redactor.register('decrypted-app-secret-123');
    const name = `taupage-applog-${randomUUID().slice(0, 8)}`;
    containers.push(name);
    // The test env's dockerd writes its pidfile there (the AMI's: /var/run/docker.pid).
    const dockerPidFile = join(testEnv('TAUPAGE_TEST_ENV_DIR'), 'dockerd.pid');
    const app = await docker.createContainer({
      name,
      Image: env.image,
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: [
        'echo "INFO started"; echo "token decrypted-app-secret-123"; echo \'say "hi" \\\\ there\'; echo "INFO done"',
      ],
    });
    await app.start();
    const pipeline = await startLogShipping({
      config: config('application_logrotate_size: 10M\n'),
      identity,
      containerName: name,
      stateDir: join(dir, 'state'),
      cloudWatchLogsEndpoint: undefined,
      applicationLog: { path, containerId: () => app.id, dockerPidFile },
      redactor,
      log,
    });
    if (pipeline === undefined) throw new Error('no pipeline');
    pipelines.push(pipeline);
    const written = await eventually(async () => {
      const text = await readFile(path, 'utf8').catch(() => '');
      return text.includes('INFO done') ? text : undefined;
    }, 'the app output in application.log');
    const lines = written.trim().split('\n');
    expect(lines.map((line) => line.replace(/^.*?\]: /, ''))).toEqual([
      'INFO started',
      'token [redacted]',
      'say "hi" \\\\ there',
      'INFO done',
    ]);
    // The pid Docker's syslog driver put in the tag was its own (dockerd's), not the writer's.
    const dockerdPid = Number((await readFile(dockerPidFile, 'utf8')).trim());
    expect(dockerdPid).not.toBe(process.pid);
    const tag = `docker/${app.id.slice(0, 12)}[${String(dockerdPid)}]:`;
    for (const line of lines) expect(line).toContain(` ${tag} `);
    expect(written).not.toContain('decrypted-app-secret-123');

    // The original's mount_var_log: host /var/log read-only at /var/log-host, application.log in it.
    const reader = `taupage-applog-reader-${randomUUID().slice(0, 8)}`;
    containers.push(reader);
    const spec = buildContainerSpec(
      config('mount_var_log: true\n'),
      'digest',
      {
        containerName: reader,
        metaDir: join(dir, 'meta'),
        applicationUser: '999:999',
        containerUser: '0',
        hostPaths: {
          dockerSocket: '/nonexistent',
          varLog,
          customLog: join(dir, 'c'),
          certs: join(dir, 'certs'),
          mountsRoot: join(dir, 'm'),
        },
      },
      undefined,
    );
    const runtime = new DockerodeContainerRuntime(docker);
    const created = await runtime.createContainer(spec, new AbortController().signal);
    const container = docker.getContainer(created.id);
    const exec = await container
      .start()
      .then(() =>
        container.exec({ Cmd: ['tail', '-n', '1', '/var/log-host/application.log'], AttachStdout: true }),
      );
    const stream = await exec.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise<void>((resolve) => stream.on('end', resolve));
    expect(Buffer.concat(chunks).toString('utf8')).toContain(`${tag} INFO done`);
  });
});
