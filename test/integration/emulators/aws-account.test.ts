// The emulators sharing one AwsAccount answer over quota as AWS does, and the real SDK clients
// (the ones the agent uses) classify each answer as throttling and retry it. Quotas are scaled
// to a burst of one request that practically never refills: the first call is admitted, the next
// is throttled. (bench/quota-answers.ts checks the same answers with the AWS CLI v1.)
import { CloudFormationClient, SignalResourceCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient, CreateLogGroupCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
// The classifier the SDK's retry strategy applies (a dependency of every @aws-sdk client).
import { isThrottlingError } from '@smithy/core/retry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsAccount, TokenBucket } from '../../emulators/aws-account.js';
import { CloudFormationEmulator } from '../../emulators/cloudformation-emulator.js';
import { CloudWatchEmulator } from '../../emulators/cloudwatch-emulator.js';
import { CloudWatchLogsEmulator } from '../../emulators/cloudwatch-logs-emulator.js';
import { Ec2Emulator } from '../../emulators/ec2-emulator.js';
import { ImdsEmulator } from '../../emulators/imds-emulator.js';
import { EcrEmulator } from '../../emulators/ecr-emulator.js';
import { KmsEmulator } from '../../emulators/kms-emulator.js';
import { S3Emulator } from '../../emulators/s3-emulator.js';

const region = 'eu-central-1';
const credentials = { accessKeyId: 'AKIDQUOTA', secretAccessKey: 'x' };
const client = { region, credentials, maxAttempts: 2 };
const account = new AwsAccount({ scale: 1e-9 });
let logs: CloudWatchLogsEmulator;
let kms: KmsEmulator;
let ecr: EcrEmulator;
let cfn: CloudFormationEmulator;
let cw: CloudWatchEmulator;
let ec2: Ec2Emulator;
let s3: S3Emulator;

beforeAll(async () => {
  logs = await CloudWatchLogsEmulator.start({ region, account });
  kms = await KmsEmulator.start({ region, account });
  ecr = await EcrEmulator.start({ region, password: 'pw', account });
  cfn = await CloudFormationEmulator.start({ region, account });
  cw = await CloudWatchEmulator.start({ region, account });
  ec2 = await Ec2Emulator.start({ region, account });
  s3 = await S3Emulator.start({ region, account });
  cfn.expectSignal('stack', 'AppServer');
  s3.createBucket('quota-bucket');
});
afterAll(async () => {
  await Promise.all([
    logs.close(),
    kms.close(),
    ecr.close(),
    cfn.close(),
    cw.close(),
    ec2.close(),
    s3.stop(),
  ]);
});

/** Runs `call` twice: the first is admitted, the second throttled; returns the second's error. */
async function overQuota(call: () => Promise<unknown>): Promise<Record<string, unknown>> {
  await call();
  const error = await call().then(
    () => undefined,
    (e: unknown) => e as Record<string, unknown>,
  );
  if (error === undefined) throw new Error('the second call was not throttled');
  return error;
}

describe('AwsAccount: each service answers over quota as AWS does, and the SDK retries it', () => {
  const cases: Array<[string, number, () => Promise<unknown>]> = [
    [
      'ThrottlingException',
      400,
      () =>
        new CloudWatchLogsClient({ ...client, endpoint: logs.url }).send(
          new CreateLogGroupCommand({ logGroupName: `g-${String(Math.random())}` }),
        ),
    ],
    [
      'ThrottlingException',
      400,
      () =>
        new KMSClient({ ...client, endpoint: kms.url }).send(
          new DecryptCommand({
            CiphertextBlob: Buffer.from(kms.encryptForTest('s').slice('aws:kms:'.length), 'base64'),
          }),
        ),
    ],
    [
      'ThrottlingException',
      400,
      () => new ECRClient({ ...client, endpoint: ecr.url }).send(new GetAuthorizationTokenCommand({})),
    ],
    [
      'Throttling',
      400,
      () =>
        new CloudFormationClient({ ...client, endpoint: cfn.url }).send(
          new SignalResourceCommand({
            StackName: 'stack',
            LogicalResourceId: 'AppServer',
            UniqueId: 'i-1',
            Status: 'SUCCESS',
          }),
        ),
    ],
    [
      'Throttling',
      400,
      () =>
        new CloudWatchClient({ ...client, endpoint: cw.url }).send(
          new PutMetricDataCommand({ Namespace: 'Fleet', MetricData: [{ MetricName: 'm', Value: 1 }] }),
        ),
    ],
    [
      'RequestLimitExceeded',
      503,
      () => new EC2Client({ ...client, endpoint: ec2.url }).send(new DescribeVolumesCommand({})),
    ],
    [
      'SlowDown',
      503,
      () =>
        new S3Client({ ...client, endpoint: s3.url, forcePathStyle: true }).send(
          new PutObjectCommand({ Bucket: 'quota-bucket', Key: 'prefix/key', Body: 'x' }),
        ),
    ],
  ];
  it.each(cases)('%s (HTTP %i)', async (code, status, call) => {
    const error = await overQuota(call);
    expect(error.name).toBe(code);
    expect(error.$metadata).toMatchObject({ httpStatusCode: status, attempts: 2 });
    expect(isThrottlingError(error as unknown as Parameters<typeof isThrottlingError>[0])).toBe(true);
  });

  it('counts calls, throttled calls and SDK retries per API and per caller', () => {
    expect(account.apis.get('logs:CreateLogGroup')).toEqual({ calls: 3, throttled: 2, retried: 1 });
    expect(account.callsBy('AKIDQUOTA', 'kms:Decrypt')).toBe(3);
    expect(account.throttledTotal).toBeGreaterThanOrEqual(14);
  });

  it('IMDS drops what exceeds the per-instance packet limit: the client sees its connection reset', async () => {
    const imds = await ImdsEmulator.start({
      identity: { instanceId: 'i-0imdsquota000001' },
      account,
      packetsPerSecond: 0.001, // a burst of one packet, then none for 1,000 s
    });
    try {
      const token = () =>
        fetch(`${imds.url}/latest/api/token`, {
          method: 'PUT',
          headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' },
        });
      expect((await token()).status).toBe(200);
      await expect(token()).rejects.toThrow(/fetch failed/);
      expect(account.callsBy('imds:i-0imdsquota000001', 'imds:request')).toBe(2);
      expect(account.apis.get('imds:request')).toMatchObject({ calls: 2, throttled: 1 });
    } finally {
      await imds.close();
    }
  });

  it('scales every quota by the factor and refills its bucket over time', () => {
    const scaled = new AwsAccount({ scale: 5 / 1000 });
    expect(scaled.scaled('logs:CreateLogStream')).toEqual({ rate: 0.25, burst: 1 });
    expect(scaled.scaled('kms:symmetric')).toEqual({ rate: 50, burst: 50 });
    let now = 0;
    const bucket = new TokenBucket(2, 2, () => now);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, false]);
    now = 500;
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
  });
});
