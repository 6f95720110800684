import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TaupageError } from '../../../src/core/errors.js';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import type { Scheduler } from '../../../src/metrics/scheduler.js';
import { AwsS3CredentialsBucket } from '../../../src/host/aws-s3-credentials-bucket.js';
import { CredentialsRefresher, registerCredentialsMetrics } from '../../../src/host/credentials-refresher.js';
import { S3Emulator } from '../../emulators/s3-emulator.js';
import { cappedClock } from '../../support/capped-clock.js';

const BUCKET = 'zalando-stups-mint-123456789012-eu-central-1';
const APP = 'hello';
const USER = '{"application_username":"hello","application_password":"user-pw-s3cr3t"}';
const CLIENT = '{"client_id":"hello-client","client_secret":"client-s3cr3t-42"}';
/** Another uid:gid than the agent's: proves the files are handed to the app user. */
const OWNER = { uid: 4242, gid: 4343 };

/** Retries without real waits: the policy's delays are capped at a few ms. */
const fastClock = cappedClock(5);

let s3: S3Emulator;
let bucket: AwsS3CredentialsBucket;
let dir: string;
let logLines: string[];

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDCREDSTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'creds-test-secret';
  s3 = await S3Emulator.start({
    region: 'eu-central-1',
    credentials: [{ accessKeyId: 'AKIDCREDSTEST', secretAccessKey: 'creds-test-secret' }],
  });
  bucket = new AwsS3CredentialsBucket({ bucket: BUCKET, region: 'eu-central-1', endpoint: s3.url });
});
afterAll(async () => {
  bucket.destroy();
  await s3.stop();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-credentials-'));
  s3.buckets.set(BUCKET, new Map());
  s3.storeObject(BUCKET, `${APP}/user.json`, USER);
  s3.storeObject(BUCKET, `${APP}/client.json`, CLIENT);
  s3.requests.length = 0;
  logLines = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function manualScheduler(): Scheduler & { expression?: string; job?: () => Promise<void>; stopped: boolean } {
  const scheduler: Scheduler & { expression?: string; job?: () => Promise<void>; stopped: boolean } = {
    stopped: false,
    schedule(expression, job) {
      scheduler.expression = expression;
      scheduler.job = job;
      return {
        stop: () => {
          scheduler.stopped = true;
        },
      };
    },
  };
  return scheduler;
}

function refresher(options: { bucketName?: string; errors?: unknown[] } = {}) {
  const scheduler = manualScheduler();
  const log = createLogger({
    level: 'debug',
    redactor: new Redactor(),
    destination: { write: (line: string) => void logLines.push(line) },
  });
  const credentials = new CredentialsRefresher({
    bucket:
      options.bucketName === undefined
        ? bucket
        : new AwsS3CredentialsBucket({
            bucket: options.bucketName,
            region: 'eu-central-1',
            endpoint: s3.url,
          }),
    bucketName: options.bucketName ?? BUCKET,
    applicationId: APP,
    directory: join(dir, 'credentials'),
    owner: OWNER,
    scheduler,
    clock: fastClock,
    log,
    recordError: (error) => options.errors?.push(error),
  });
  return { credentials, scheduler };
}

const credentialsDir = (): string => join(dir, 'credentials');

describe('CredentialsRefresher against the S3 emulator', () => {
  it('downloads user.json and client.json before the container starts, readable by the app user only', async () => {
    const { credentials } = refresher();
    await credentials.initial(AbortSignal.timeout(10_000));

    expect(await readFile(join(credentialsDir(), 'user.json'), 'utf8')).toBe(USER);
    expect(await readFile(join(credentialsDir(), 'client.json'), 'utf8')).toBe(CLIENT);
    for (const name of ['user.json', 'client.json']) {
      const info = await stat(join(credentialsDir(), name));
      expect({ mode: info.mode & 0o777, uid: info.uid, gid: info.gid }).toEqual({ mode: 0o600, ...OWNER });
    }
    const dirInfo = await stat(credentialsDir());
    expect({ mode: dirInfo.mode & 0o777, uid: dirInfo.uid, gid: dirInfo.gid }).toEqual({
      mode: 0o700,
      ...OWNER,
    });
    expect(s3.requests.sort()).toEqual([
      `GET /${BUCKET}/${APP}/client.json`,
      `GET /${BUCKET}/${APP}/user.json`,
    ]);
    expect(credentials.state()).toMatchObject({
      consecutiveFailures: 0,
      rounds: { success: 1, failure: 0 },
      rotations: 2,
      lastError: undefined,
    });
    expect(credentials.state().lastSuccessAt).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('retries a throttled S3 at boot and then succeeds', async () => {
    s3.injectFault('SlowDown', 3);
    const { credentials } = refresher();
    await credentials.initial(AbortSignal.timeout(10_000));
    expect(await readFile(join(credentialsDir(), 'client.json'), 'utf8')).toBe(CLIENT);
    expect(s3.requests.length).toBeGreaterThanOrEqual(5);
  });

  it('fails the boot at once with CREDENTIALS_DENIED naming the bucket when it does not exist', async () => {
    const errors: unknown[] = [];
    const { credentials } = refresher({ bucketName: 'no-such-mint-bucket', errors });
    const failure = await credentials.initial(AbortSignal.timeout(10_000)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TaupageError);
    expect(failure).toMatchObject({
      code: 'CREDENTIALS_DENIED',
      retriable: false,
      message: expect.stringMatching(
        /^S3 refused s3:\/\/no-such-mint-bucket\/hello\/(user|client)\.json \(NoSuchBucket\)$/,
      ) as unknown,
    });
    expect(s3.requests).toHaveLength(2); // one try per file: a missing bucket does not appear
    expect(errors).toEqual([
      expect.objectContaining({ component: 'credentials', code: 'CREDENTIALS_DENIED' }),
    ]);
  });

  it('gives up on a missing key after the boot retry budget, with the key in the message', async () => {
    s3.objects(BUCKET).delete(`${APP}/client.json`);
    const { credentials } = refresher();
    const failure = await credentials.initial(AbortSignal.timeout(60_000)).catch((error: unknown) => error);
    expect(failure).toMatchObject({
      code: 'CREDENTIALS_DENIED',
      message: `S3 refused s3://${BUCKET}/${APP}/client.json (NoSuchKey)`,
    });
    expect(s3.requests.filter((r) => r.endsWith('client.json')).length).toBe(10); // CREDENTIALS_BOOT_RETRY.maxAttempts
  });

  it('refreshes every 2 minutes, replacing a changed file atomically and leaving an unchanged one alone', async () => {
    const { credentials, scheduler } = refresher();
    await credentials.initial(AbortSignal.timeout(10_000));
    credentials.start();
    expect(scheduler.expression).toBe('0 */2 * * * *');
    const userBefore = await stat(join(credentialsDir(), 'user.json'));
    const clientBefore = await stat(join(credentialsDir(), 'client.json'));

    const rotated = '{"client_id":"hello-client","client_secret":"rotated-s3cr3t-43"}';
    s3.storeObject(BUCKET, `${APP}/client.json`, rotated);
    await scheduler.job?.();

    expect(await readFile(join(credentialsDir(), 'client.json'), 'utf8')).toBe(rotated);
    const clientAfter = await stat(join(credentialsDir(), 'client.json'));
    expect(clientAfter.ino).not.toBe(clientBefore.ino); // renamed into place, not rewritten
    expect(clientAfter.mode & 0o777).toBe(0o600);
    expect((await stat(join(credentialsDir(), 'user.json'))).ino).toBe(userBefore.ino);
    expect(credentials.state()).toMatchObject({ rounds: { success: 2, failure: 0 }, rotations: 3 });
    credentials.stop();
    expect(scheduler.stopped).toBe(true);
  });

  it('keeps the last good copy when a round is denied or a file is not JSON, and reports it', async () => {
    const errors: unknown[] = [];
    const { credentials, scheduler } = refresher({ errors });
    await credentials.initial(AbortSignal.timeout(10_000));
    credentials.start();
    const registry = new Registry();
    registerCredentialsMetrics(registry, credentials);

    s3.injectFault('AccessDenied', 2);
    await scheduler.job?.();
    expect(credentials.state()).toMatchObject({
      consecutiveFailures: 1,
      lastError: {
        code: 'CREDENTIALS_DENIED',
        message: expect.stringMatching(/\(AccessDenied\): the instance role needs s3:GetObject/) as unknown,
      },
    });

    const broken = '{"client_secret": "half-written-s3cr3t"';
    s3.storeObject(BUCKET, `${APP}/client.json`, broken);
    await scheduler.job?.();
    expect(credentials.state()).toMatchObject({
      consecutiveFailures: 2,
      lastError: {
        code: 'CREDENTIALS_DENIED',
        message: `s3://${BUCKET}/${APP}/client.json is not a JSON object`,
      },
    });
    expect(await readFile(join(credentialsDir(), 'client.json'), 'utf8')).toBe(CLIENT);
    expect(await readFile(join(credentialsDir(), 'user.json'), 'utf8')).toBe(USER);
    expect(errors).toHaveLength(2);

    const text = await registry.metrics();
    expect(text).toMatch(/^taupage_credentials_consecutive_failures 2$/m);
    expect(text).toMatch(/^taupage_credentials_refreshes_total\{outcome="failure"\} 2$/m);
    expect(text).toMatch(/^taupage_credentials_refreshes_total\{outcome="success"\} 1$/m);
    expect(text).toMatch(/^taupage_credentials_last_success_timestamp_seconds \d+/m);

    s3.storeObject(BUCKET, `${APP}/client.json`, CLIENT);
    await scheduler.job?.();
    expect(credentials.state().consecutiveFailures).toBe(0);
    credentials.stop();

    // Nothing the app gets from the bucket reaches the log, the state or the recorded errors.
    const everything = [
      logLines.join(''),
      JSON.stringify(credentials.state()),
      JSON.stringify(errors),
      text,
    ].join('\n');
    for (const secret of ['user-pw-s3cr3t', 'client-s3cr3t-42', 'half-written-s3cr3t'])
      expect(everything).not.toContain(secret);
    expect(logLines.join('')).toContain('Could not refresh app credentials; keeping the last good copy');
  });

  it('replaces a planted file in the directory with the downloaded one on boot', async () => {
    const { credentials } = refresher();
    await credentials.initial(AbortSignal.timeout(10_000));
    await writeFile(join(credentialsDir(), 'user.json'), '{"stale":true}', { mode: 0o644 });
    const again = refresher().credentials;
    await again.initial(AbortSignal.timeout(10_000));
    expect(await readFile(join(credentialsDir(), 'user.json'), 'utf8')).toBe(USER);
    expect((await stat(join(credentialsDir(), 'user.json'))).mode & 0o777).toBe(0o600);
  });
});
