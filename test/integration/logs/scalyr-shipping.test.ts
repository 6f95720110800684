import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deflateSync, gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { logPipelineState, startLogShipping } from '../../../src/app/compose-logs.js';
import { loadConfig } from '../../../src/config/load-config.js';
import type { TaupageConfig } from '../../../src/config/taupage-config.js';
import { isTaupageError } from '../../../src/core/errors.js';
import { Redactor } from '../../../src/core/redactor.js';
import { Secret } from '../../../src/core/secret.js';
import type { LogPipeline } from '../../../src/logs/log-pipeline.js';
import type { LogRecord } from '../../../src/logs/log-record.js';
import { ScalyrDestination } from '../../../src/logs/scalyr-destination.js';
import { recordBatch } from '../../../src/logs/spool-records.js';
import { ConfigSecrets } from '../../../src/secrets/decrypt-config-secrets.js';
import { cappedClock } from '../../support/capped-clock.js';
import { eventually } from '../../support/test-env.js';
import { MAX_BODY_BYTES, ScalyrEmulator } from '../../emulators/scalyr-emulator.js';

const execFileAsync = promisify(execFile);
const log = pino({ level: 'silent' });
const quickClock = cappedClock(20);
const WRITE_KEY = `scalyr-write-${randomBytes(8).toString('hex')}`;
const ROUTES = { application: { logfile: '/var/log/application.log', parser: 'slf4j', sampling: [] } };
const identity = {
  instanceId: 'i-0scalyr000000001',
  region: 'eu-central-1',
  availabilityZone: 'eu-central-1a',
  accountId: '123456789012',
  privateIp: '10.0.0.1',
  imageId: undefined,
  instanceType: undefined,
  autoScalingGroupName: undefined,
};

let dir = '';
let scalyr: ScalyrEmulator;
const pipelines: LogPipeline[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-scalyr-'));
  scalyr = await ScalyrEmulator.start(WRITE_KEY);
});
afterAll(async () => {
  await scalyr.stop();
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(0);
});

function config(yaml: string): TaupageConfig {
  const text = `#taupage-ami-config\nruntime: Docker\nsource: registry.example.org/team/hello:1.0.3\napplication_id: hello\napplication_version: "1.0.3"\n${yaml}`;
  const { config: loaded, errors } = loadConfig(Buffer.from(text), {}).validation;
  expect(errors).toEqual([]);
  if (loaded === undefined) throw new Error('no config');
  return loaded;
}

function destination(
  overrides: Partial<ConstructorParameters<typeof ScalyrDestination>[0]> = {},
): ScalyrDestination {
  return new ScalyrDestination({
    url: `${scalyr.url}/addEvents`,
    token: new Secret(WRITE_KEY),
    sessionInfo: { serverHost: 'hello' },
    routes: ROUTES,
    log,
    clock: quickClock,
    ...overrides,
  });
}

const lines = (prefix: string, count: number): LogRecord[] =>
  Array.from({ length: count }, (_, i) => ({
    source: 'application',
    timestamp: Date.now(),
    message: `${prefix} ${String(i)}`,
  }));

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('Scalyr: the pipeline ships syslog, auth.log and custom logs to addEvents', () => {
  it('an aws:kms: key: decrypted token in the body only, serverHost and server attributes, logfile/parser per log, JWTs masked in custom logs', async () => {
    const work = await mkdtemp(join(dir, 'compose-'));
    const hostPaths = {
      syslog: join(work, 'syslog'),
      authlog: join(work, 'auth.log'),
      customlog: join(work, 'custom', '*.log'),
    };
    await mkdir(join(work, 'custom'));
    await writeFile(hostPaths.syslog, `sys 0\nsys 1 leaked ${WRITE_KEY} here\n`);
    await writeFile(hostPaths.authlog, 'auth 0\n');
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    await writeFile(join(work, 'custom', 'app.log'), `custom token ${jwt}\n`);
    const ciphertext = randomBytes(48);
    const redactor = new Redactor();
    redactor.register(WRITE_KEY);
    const secrets = new ConfigSecrets(new Map([[ciphertext.toString('base64'), new Secret(WRITE_KEY)]]));
    const pipeline = await startLogShipping({
      config: config(
        [
          `scalyr_account_key: "aws:kms:${ciphertext.toString('base64')}"`,
          'mount_custom_log: true',
          'notify_cfn: {stack: hello-3, resource: AppServerGroup}',
          'logging:',
          '  log_destination: none',
          '  use_scalyr_agent_applog: false',
          '  scalyr_custom_log_parser: json',
          '',
        ].join('\n'),
      ),
      identity,
      containerName: `taupage-scalyr-none-${randomBytes(4).toString('hex')}`,
      stateDir: join(work, 'state'),
      cloudWatchLogsEndpoint: undefined,
      hostPaths,
      secrets,
      scalyrEndpoint: scalyr.url,
      redactor,
      log,
    });
    if (pipeline === undefined) throw new Error('nothing shipped');
    pipelines.push(pipeline);
    await appendFile(hostPaths.syslog, 'sys 2\n');
    await eventually(
      () =>
        Promise.resolve(
          scalyr.messages('/var/log/syslog').length >= 3 &&
            scalyr.messages('/var/log/auth.log').length >= 1 &&
            scalyr.messages(join(work, 'custom', 'app.log')).length >= 1
            ? true
            : undefined,
        ),
      'syslog, auth.log and the custom log at the Scalyr emulator',
    );
    expect(scalyr.messages('/var/log/syslog')).toEqual(['sys 0', 'sys 1 leaked [redacted] here', 'sys 2']);
    expect(scalyr.messages('/var/log/auth.log')).toEqual(['auth 0']);
    expect(scalyr.messages(join(work, 'custom', 'app.log'))).toEqual([
      'custom token +++JWT_TOKEN_REDACTED+++',
    ]);
    const byLog = Object.fromEntries(
      scalyr.events.map((e) => [e.attrs.logfile as string, e.attrs.parser as string]),
    );
    expect(byLog).toEqual({
      '/var/log/syslog': 'systemLog',
      '/var/log/auth.log': 'systemLog',
      [join(work, 'custom', 'app.log')]: 'json',
    });
    const sessionInfo = scalyr.events[0]?.sessionInfo;
    expect(sessionInfo).toMatchObject({
      serverHost: 'hello',
      application_id: 'hello',
      application_version: '1.0.3',
      stack: 'hello-3',
      source: 'registry.example.org/team/hello:1.0.3',
      image: 'registry.example.org/team/hello',
      aws_region: 'eu-central-1',
      aws_account: '123456789012',
      aws_ec2_instance_id: 'i-0scalyr000000001',
    });
    expect(typeof sessionInfo?.aws_ec2_hostname).toBe('string');
    expect(new Set(scalyr.events.map((e) => e.session)).size).toBe(1);
    for (const request of scalyr.requests) expect(request.encoding).toBe('gzip');
    // The plaintext key is in the request's token and nowhere else: not in any event, not in the
    // spool or the checkpoints, not in the status.
    for (const request of scalyr.requests)
      expect(request.body.split(WRITE_KEY).length - 1).toBe(request.status === 'success' ? 1 : 0);
    // The emulator stored the events a moment before the worker counted them.
    const status = await eventually(() => {
      const current = pipeline.status();
      return Promise.resolve(current.destinations[0]?.delivered === 5 ? current : undefined);
    }, 'the deliveries counted');
    expect(JSON.stringify(status)).not.toContain(WRITE_KEY);
    expect(status.destinations).toEqual([
      expect.objectContaining({ name: 'scalyr', delivered: 5, rejected: 0, dropped: 0 }),
    ]);
    await pipeline.stop(0);
    pipelines.splice(pipelines.indexOf(pipeline), 1);
    // (The input file has it: the test wrote it there.)
    for (const file of await filesUnder(join(work, 'state')))
      expect(await readFile(file, 'utf8')).not.toContain(WRITE_KEY);
  });
});

describe('Scalyr: sampling and the custom logs’ file names', () => {
  it('counts lines left out by sampling rules as sampled out, not as delivered', async () => {
    const work = await mkdtemp(join(dir, 'sampling-'));
    const hostPaths = {
      syslog: join(work, 'syslog'),
      authlog: join(work, 'auth.log'),
      customlog: join(work, 'c', '*.log'),
    };
    await writeFile(hostPaths.syslog, 'DEBUG 0\nINFO 1\nDEBUG 2\nINFO 3\nDEBUG 4\n');
    const pipeline = await startLogShipping({
      config: config(
        [
          `scalyr_account_key: ${WRITE_KEY}`,
          'logging:',
          '  log_destination: none',
          '  use_scalyr_agent_all: false',
          '  use_scalyr_agent_syslog: true',
          '  scalyr_agent_syslog_sampling:',
          '    - match_expression: ^DEBUG',
          '      sampling_rate: 0',
          '',
        ].join('\n'),
      ),
      identity,
      containerName: `taupage-scalyr-sampling-${randomBytes(4).toString('hex')}`,
      stateDir: join(work, 'state'),
      cloudWatchLogsEndpoint: undefined,
      hostPaths,
      scalyrEndpoint: scalyr.url,
      redactor: new Redactor(),
      log,
    });
    if (pipeline === undefined) throw new Error('nothing shipped');
    pipelines.push(pipeline);
    const status = await eventually(() => {
      const current = pipeline.status().destinations.find((d) => d.name === 'scalyr');
      return Promise.resolve(
        current !== undefined && current.delivered + current.sampledOut === 5 ? current : undefined,
      );
    }, 'the syslog lines counted');
    expect(status).toMatchObject({ delivered: 2, sampledOut: 3, rejected: 0, dropped: 0 });
    expect(scalyr.messages(hostPaths.syslog)).toEqual([]);
    expect(scalyr.messages('/var/log/syslog')).toEqual(expect.arrayContaining(['INFO 1', 'INFO 3']));
    expect(scalyr.messages('/var/log/syslog').filter((m) => m.startsWith('DEBUG'))).toEqual([]);
    // In /status and the metrics' shape (compose-logs' logPipelineState).
    expect(
      logPipelineState(pipeline.status()).destinations.find((d) => d.destination === 'scalyr'),
    ).toMatchObject({
      delivered: 2,
      sampledOut: 3,
    });
  });

  it('names each custom log file by its path in logfile (the pattern is only how they are found)', async () => {
    const work = await mkdtemp(join(dir, 'custom-'));
    const customDir = join(work, 'log-custom');
    const hostPaths = {
      syslog: join(work, 'syslog'),
      authlog: join(work, 'auth.log'),
      customlog: join(customDir, '*.log'),
    };
    await mkdir(customDir);
    await writeFile(join(customDir, 'access.log'), 'GET / 200\n');
    await writeFile(join(customDir, 'gc.log'), 'gc pause 3ms\n');
    const pipeline = await startLogShipping({
      config: config(
        [
          `scalyr_account_key: ${WRITE_KEY}`,
          'mount_custom_log: true',
          'logging:',
          '  log_destination: none',
          '  use_scalyr_agent_all: false',
          '  use_scalyr_agent_customlog: true',
          '',
        ].join('\n'),
      ),
      identity,
      containerName: `taupage-scalyr-custom-${randomBytes(4).toString('hex')}`,
      stateDir: join(work, 'state'),
      cloudWatchLogsEndpoint: undefined,
      hostPaths,
      scalyrEndpoint: scalyr.url,
      redactor: new Redactor(),
      log,
    });
    if (pipeline === undefined) throw new Error('nothing shipped');
    pipelines.push(pipeline);
    await writeFile(join(customDir, 'late.log'), 'created later\n');
    const access = join(customDir, 'access.log');
    const gc = join(customDir, 'gc.log');
    const late = join(customDir, 'late.log');
    await eventually(
      () =>
        Promise.resolve(
          scalyr.messages(access).length + scalyr.messages(gc).length + scalyr.messages(late).length === 3
            ? true
            : undefined,
        ),
      'the three custom log files at Scalyr, each under its own logfile',
    );
    expect(scalyr.messages(access)).toEqual(['GET / 200']);
    expect(scalyr.messages(gc)).toEqual(['gc pause 3ms']);
    expect(scalyr.messages(late)).toEqual(['created later']);
    expect(scalyr.messages(hostPaths.customlog)).toEqual([]);
    for (const event of scalyr.events.filter((e) => String(e.attrs.logfile).startsWith(customDir)))
      expect(event.attrs.parser).toBe('slf4j');
  });
});

describe('ScalyrDestination against the addEvents emulator', () => {
  it('honours backoff answers (429 with Retry-After, error/server/backoff, 503): the same body again, stored once', async () => {
    const before = scalyr.events.length;
    const target = destination();
    scalyr.answerNext(
      { httpStatus: 429, status: 'error/server/backoff', retryAfterSeconds: 1 },
      { httpStatus: 200, status: 'error/server/backoff' },
      { httpStatus: 503, status: 'error/server' },
    );
    const requestsBefore = scalyr.requests.length;
    const result = await target.deliver(recordBatch(lines('backoff', 3)), AbortSignal.timeout(10_000));
    expect(result).toEqual({ rejected: 0, sampledOut: 0 });
    const sent = scalyr.requests.slice(requestsBefore);
    expect(sent.map((r) => r.status)).toEqual([
      'error/server/backoff',
      'error/server/backoff',
      'error/server',
      'success',
    ]);
    expect(new Set(sent.map((r) => r.body)).size).toBe(1);
    expect(scalyr.events.slice(before).map((e) => e.message)).toEqual([
      'backoff 0',
      'backoff 1',
      'backoff 2',
    ]);
  });

  it('a refused write key fails the delivery (not retriable), naming the endpoint and never the key', async () => {
    const target = destination({ token: new Secret('not-the-key') });
    const error = await target
      .deliver(recordBatch(lines('denied', 1)), AbortSignal.timeout(10_000))
      .catch((e: unknown) => e);
    expect(isTaupageError(error) && error.code).toBe('LOG_SHIP_FAILED');
    expect(isTaupageError(error) && error.retriable).toBe(false);
    expect((error as Error).message).toMatch(
      /^scalyr http:\/\/127\.0\.0\.1:\d+\/addEvents: the write key was refused \(HTTP 401 error\/client\/noPermission/,
    );
    expect((error as Error).message).not.toContain('not-the-key');
  });

  it('a delivery sent again after a failure in its middle sends only what was not taken, byte for byte', async () => {
    const before = scalyr.events.length;
    const target = destination({
      maxRequestBytes: 4_000,
      policy: {
        name: 'test',
        maxAttempts: 1,
        initialDelayMs: 1,
        maxDelayMs: 1,
        multiplier: 1,
        jitter: false,
      },
    });
    const batch = recordBatch(lines(`middle ${'y'.repeat(500)}`, 20));
    // The first request is taken, the second is answered 503 once: the delivery fails.
    scalyr.answerNext('take', { httpStatus: 503, status: 'error/server' });
    await expect(target.deliver(batch, AbortSignal.timeout(10_000))).rejects.toThrow(
      /scalyr .*HTTP 503 error\/server/,
    );
    const result = await target.deliver(batch, AbortSignal.timeout(10_000));
    expect(result).toEqual({ rejected: 0, sampledOut: 0 });
    const messages = scalyr.events.slice(before).map((e) => e.message);
    expect(messages).toEqual(batch.records.map((r) => r.message));
  });

  it('cuts 5 MB of lines into requests the API takes (3,000,000-byte body limit, gzip)', async () => {
    const before = scalyr.events.length;
    const requestsBefore = scalyr.requests.length;
    const records = lines(`bulk ${'z'.repeat(1000)}`, 5_000);
    await destination().deliver(recordBatch(records), AbortSignal.timeout(30_000));
    expect(scalyr.events.length - before).toBe(5_000);
    const sent = scalyr.requests.slice(requestsBefore);
    expect(sent.length).toBeGreaterThanOrEqual(5);
    for (const request of sent) {
      expect(request.status).toBe('success');
      expect(Buffer.byteLength(request.body)).toBeLessThanOrEqual(1_000_000);
      expect(request.sentBytes).toBeLessThan(Buffer.byteLength(request.body) / 5);
    }
  });

  it('counts a request refused for good (error/client/badParam) as rejected and goes on', async () => {
    const target = destination();
    scalyr.answerNext({ httpStatus: 400, status: 'error/client/badParam' });
    const result = await target.deliver(recordBatch(lines('refused', 4)), AbortSignal.timeout(10_000));
    expect(result).toEqual({ rejected: 4, sampledOut: 0 });
    const next = await target.deliver(recordBatch(lines('after', 1)), AbortSignal.timeout(10_000));
    expect(next).toEqual({ rejected: 0, sampledOut: 0 });
    expect(scalyr.messages().at(-1)).toBe('after 0');
  });
});

describe('the Scalyr emulator, driven by an independent client (curl)', () => {
  const curl = async (
    body: Buffer,
    headers: string[],
  ): Promise<{ code: number; answer: { status: string } }> => {
    const file = join(dir, `body-${randomBytes(4).toString('hex')}`);
    await writeFile(file, body);
    const { stdout } = await execFileAsync(
      'curl',
      [
        ...['-sS', '-o', '-', '-w', '\n%{http_code}', '-X', 'POST', '--data-binary', `@${file}`],
        ...headers.flatMap((h) => ['-H', h]),
        `${scalyr.url}/api/addEvents`,
      ],
      { maxBuffer: 1024 * 1024 },
    );
    const [answer = '', code = '0'] = stdout.split('\n');
    return { code: Number(code), answer: JSON.parse(answer) as { status: string } };
  };
  const body = (session: string, ts: string[], token = WRITE_KEY): Buffer =>
    Buffer.from(
      JSON.stringify({
        token,
        session,
        sessionInfo: { serverHost: 'curl' },
        events: ts.map((t, i) => ({ ts: t, attrs: { message: `curl ${String(i)}` } })),
      }),
    );
  const json = 'Content-Type: application/json';

  it('takes gzip, deflate and plain bodies with the write key; refuses another key', async () => {
    const session = `curl-${randomBytes(4).toString('hex')}`;
    expect(await curl(gzipSync(body(session, ['1000'])), [json, 'Content-Encoding: gzip'])).toEqual({
      code: 200,
      answer: { status: 'success' },
    });
    expect(await curl(deflateSync(body(session, ['2000'])), [json, 'Content-Encoding: deflate'])).toEqual({
      code: 200,
      answer: { status: 'success' },
    });
    expect(await curl(body(session, ['3000']), [json])).toEqual({ code: 200, answer: { status: 'success' } });
    expect(await curl(body(session, ['4000'], 'wrong'), [json])).toMatchObject({
      code: 401,
      answer: { status: 'error/client/noPermission' },
    });
  });

  it('refuses timestamps that do not increase within a session, but takes the same request again', async () => {
    const session = `curl-${randomBytes(4).toString('hex')}`;
    const first = body(session, ['5000', '6000']);
    expect((await curl(first, [json])).code).toBe(200);
    expect((await curl(first, [json])).code).toBe(200);
    expect(await curl(body(session, ['6000']), [json])).toMatchObject({
      code: 400,
      answer: { status: 'error/client/badParam' },
    });
    expect(await curl(body(session, ['7000', '7000']), [json])).toMatchObject({ code: 400 });
    expect(scalyr.events.filter((e) => e.session === session).map((e) => e.ts)).toEqual(['5000', '6000']);
  });

  it('refuses a body over 3,000,000 bytes, a missing session and an event without attrs', async () => {
    const big = Buffer.from(
      JSON.stringify({
        token: WRITE_KEY,
        session: 'big',
        events: [{ ts: '1', attrs: { message: 'x'.repeat(MAX_BODY_BYTES) } }],
      }),
    );
    expect((await curl(gzipSync(big), [json, 'Content-Encoding: gzip'])).code).toBe(413);
    const noSession = Buffer.from(JSON.stringify({ token: WRITE_KEY, events: [] }));
    expect((await curl(noSession, [json])).answer.status).toBe('error/client/badParam');
    const noAttrs = Buffer.from(
      JSON.stringify({ token: WRITE_KEY, session: 's-attrs', events: [{ ts: '1' }] }),
    );
    expect((await curl(noAttrs, [json])).answer.status).toBe('error/client/badParam');
  });
});
