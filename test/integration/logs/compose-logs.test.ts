import { randomUUID } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
import type { LogPipeline } from '../../../src/logs/log-pipeline.js';
import type { InstanceIdentity } from '../../../src/metadata/instance-metadata.js';
import { S3Emulator } from '../../emulators/s3-emulator.js';
import { env, eventually } from '../../support/test-env.js';
import { RsyslogServer } from './rsyslog-server.js';

const log = pino({ level: 'silent' });
const docker = new Docker();
const identity: InstanceIdentity = {
  instanceId: 'i-0compose00000001',
  region: 'eu-central-1',
  availabilityZone: 'eu-central-1a',
  accountId: '123456789012',
  privateIp: undefined,
  imageId: undefined,
  instanceType: undefined,
  autoScalingGroupName: undefined,
};
let dir = '';
let s3: S3Emulator;
const containers: string[] = [];
const pipelines: LogPipeline[] = [];
const servers: RsyslogServer[] = [];

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDCOMPOSELOGS';
  process.env.AWS_SECRET_ACCESS_KEY = 'compose-logs-secret';
  s3 = await S3Emulator.start({
    region: 'eu-west-1',
    credentials: [{ accessKeyId: 'AKIDCOMPOSELOGS', secretAccessKey: 'compose-logs-secret' }],
  });
  dir = await mkdtemp(join(tmpdir(), 'taupage-compose-logs-'));
});
afterEach(async () => {
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(5_000);
  for (const server of servers.splice(0)) await server.stop();
  for (const name of containers.splice(0))
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
});
afterAll(async () => {
  await s3.stop();
  await rm(dir, { recursive: true, force: true });
});

function config(yaml: string): TaupageConfig {
  const text = `#taupage-ami-config\nruntime: Docker\nsource: ${env.image}\napplication_id: hello\napplication_version: "1.0.3"\n${yaml}`;
  const { config: loaded, errors } = loadConfig(Buffer.from(text), {}).validation;
  expect(errors).toEqual([]);
  if (loaded === undefined) throw new Error('invalid config');
  return loaded;
}

async function runContainer(script: string): Promise<string> {
  const name = `taupage-compose-logs-${randomUUID().slice(0, 8)}`;
  containers.push(name);
  const container = await docker.createContainer({
    name,
    Image: env.image,
    Entrypoint: ['/bin/sh', '-c'],
    Cmd: [script],
  });
  await container.start();
  return name;
}

const numbered = (prefix: string, count: number): string =>
  Array.from({ length: count }, (_, i) => `${prefix} ${String(i)}\n`).join('');

describe('startLogShipping wires the logging: keys to real sources and destinations', () => {
  it('ships the app output and syslog to S3 and auth.log to rsyslogd, each read once, filters applied', async () => {
    const work = await mkdtemp(join(dir, 'ec2-'));
    const hostPaths = {
      syslog: join(work, 'syslog'),
      authlog: join(work, 'auth.log'),
      customlog: join(work, 'custom', '*.log'),
    };
    await writeFile(hostPaths.syslog, numbered('sys', 500));
    await writeFile(hostPaths.authlog, numbered('auth', 300));
    const rsyslog = await RsyslogServer.start({ protocol: 'tcp' });
    servers.push(rsyslog);
    s3.createBucket('compose-logs');
    const container = await runContainer(
      'i=0; while [ $i -lt 200 ]; do echo "app $i"; echo "INFO: noise $i"; i=$((i+1)); done; sleep 60',
    );
    const pipeline = await startLogShipping({
      config: config(
        [
          'logging:',
          '  authlog_destination: rsyslog',
          "  applog_filter_exclude: '/INFO:/'",
          '  rsyslog_host: 127.0.0.1',
          `  rsyslog_port: ${String(rsyslog.port)}`,
          '  rsyslog_program: taupage-test',
          '  s3_bucket: compose-logs',
          '  s3_region: eu-west-1',
          '  s3_timekey: 1s',
          '',
        ].join('\n'),
      ),
      identity,
      containerName: container,
      stateDir: join(work, 'state'),
      cloudWatchLogsEndpoint: undefined,
      s3Endpoint: s3.url,
      hostPaths,
      redactor: new Redactor(),
      log,
    });
    if (pipeline === undefined) throw new Error('nothing shipped');
    pipelines.push(pipeline);
    expect(
      pipeline
        .status()
        .sources.map((s) => s.name)
        .sort(),
    ).toEqual(['application', hostPaths.authlog, hostPaths.syslog].sort());
    await appendFile(hostPaths.syslog, numbered('sys-late', 10));
    const bySource = await eventually(
      () => {
        const lines: Record<string, string[]> = {};
        for (const [key, object] of s3.objects('compose-logs')) {
          const source = key.split('/')[3] ?? '';
          lines[source] = [
            ...(lines[source] ?? []),
            ...gunzipSync(object.body).toString('utf8').split('\n').slice(0, -1),
          ];
        }
        return Promise.resolve(
          (lines.application?.length ?? 0) >= 200 && (lines.syslog?.length ?? 0) >= 510 ? lines : undefined,
        );
      },
      'the app output and syslog in S3',
      30_000,
    );
    expect(new Set(bySource.application)).toEqual(
      new Set(Array.from({ length: 200 }, (_, i) => `app ${String(i)}`)),
    );
    expect(new Set(bySource.syslog).size).toBe(510);
    expect(Object.keys(bySource).sort()).toEqual(['application', 'syslog']);
    for (const key of s3.objects('compose-logs').keys())
      expect(key).toMatch(
        /^taupage\/hello\/1\.0\.3\/(application|syslog)\/\d{4}\/\d{2}\/\d{2}\/\d{2}\/i-0compose00000001-\d+\.gz$/,
      );
    const received = await eventually(async () => {
      const messages = await rsyslog.received();
      return messages.length >= 300 ? messages : undefined;
    }, 'auth.log at rsyslogd');
    expect(received.map((m) => m.msg)).toEqual(Array.from({ length: 300 }, (_, i) => `auth ${String(i)}`));
    expect(received[0]).toMatchObject({ app: 'taupage-test', msgid: 'authlog', pri: '13' });
    expect(received[0]?.sd).toContain('instance_id="i-0compose00000001"');
    expect(pipeline.status().lostRecords).toBe(0);
  });

  it('local mode: appends the app output to application.log in the state directory', async () => {
    const work = await mkdtemp(join(dir, 'local-'));
    const container = await runContainer(
      'i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); done; sleep 60',
    );
    const pipeline = await startLogShipping({
      config: config('logging:\n  applog_filter_exclude: "line 1$"\n'),
      identity,
      containerName: container,
      stateDir: work,
      cloudWatchLogsEndpoint: undefined,
      localFileDir: work,
      redactor: new Redactor(),
      log,
    });
    if (pipeline === undefined) throw new Error('nothing shipped');
    pipelines.push(pipeline);
    const lines = await eventually(async () => {
      const text = await readFile(join(work, 'application.log'), 'utf8').catch(() => '');
      const all = text.split('\n').slice(0, -1);
      return all.length >= 499 ? all : undefined;
    }, 'application.log');
    expect(lines).toEqual(
      Array.from({ length: 500 }, (_, i) => `line ${String(i)}`).filter((l) => l !== 'line 1'),
    );
  });
});
