// Checks the emulators' over-quota answers with an independent client: the AWS CLI v1 (botocore).
// Every emulator shares one AwsAccount whose quotas are scaled down to a burst of 1 request that
// never refills, so a command's first request is admitted and every later one is throttled. For
// each service the command is run twice; the second must fail with the service's throttling code
// after botocore retried it (attempt > 1 in `amz-sdk-request`, "reached max retries" in its
// message). Needs `aws` on PATH; not part of the test suite (CI has no AWS CLI). Run:
//   node_modules/.bin/esbuild bench/quota-answers.ts --bundle --platform=node --format=esm \
//     --outfile=/tmp/quota-answers.mjs && node /tmp/quota-answers.mjs
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { AwsAccount } from '../test/emulators/aws-account.js';
import { CloudFormationEmulator } from '../test/emulators/cloudformation-emulator.js';
import { CloudWatchEmulator } from '../test/emulators/cloudwatch-emulator.js';
import { CloudWatchLogsEmulator } from '../test/emulators/cloudwatch-logs-emulator.js';
import { Ec2Emulator } from '../test/emulators/ec2-emulator.js';
import { EcrEmulator } from '../test/emulators/ecr-emulator.js';
import { KmsEmulator } from '../test/emulators/kms-emulator.js';
import { S3Emulator } from '../test/emulators/s3-emulator.js';

const REGION = 'eu-central-1';
const account = new AwsAccount({ scale: 1e-9 });
const dir = await mkdtemp(join(tmpdir(), 'taupage-quota-cli-'));

/**
 * botocore speaks CloudWatch over smithy-rpc-v2-cbor first; the emulator speaks the JSON 1.0
 * protocol the JS SDK uses. AWS_DATA_PATH overrides the model with one whose only protocol is
 * JSON (the model also lists it), so the CLI speaks what the agent speaks.
 */
async function cloudWatchJsonModel(): Promise<string> {
  const botocore = await new Promise<string>((resolve, reject) => {
    execFile('python', ['-c', 'import botocore,os;print(os.path.dirname(botocore.__file__))'], (e, out) => {
      if (e) reject(new Error(e.message));
      else resolve(out.trim());
    });
  });
  const modelDir = join(botocore, 'data', 'cloudwatch', '2010-08-01');
  const raw = await readFile(join(modelDir, 'service-2.json.gz'))
    .then((gz) => gunzipSync(gz).toString('utf8'))
    .catch(() => readFile(join(modelDir, 'service-2.json'), 'utf8'));
  const model = JSON.parse(raw) as { metadata: Record<string, unknown> };
  model.metadata.protocol = 'json';
  model.metadata.protocols = ['json'];
  const target = join(dir, 'models', 'cloudwatch', '2010-08-01');
  await mkdir(target, { recursive: true });
  await writeFile(join(target, 'service-2.json'), JSON.stringify(model));
  return join(dir, 'models');
}

function aws(args: string[], dataPath?: string): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      'aws',
      [...args, '--debug'],
      {
        env: {
          ...process.env,
          AWS_ACCESS_KEY_ID: 'AKIDQUOTACLI',
          AWS_SECRET_ACCESS_KEY: 'x',
          AWS_DEFAULT_REGION: REGION,
          AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
          AWS_CONFIG_FILE: '/nonexistent',
          AWS_MAX_ATTEMPTS: '3',
          ...(dataPath === undefined ? {} : { AWS_DATA_PATH: dataPath }),
        },
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) => {
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, stderr, stdout });
      },
    );
  });
}

const logs = await CloudWatchLogsEmulator.start({ region: REGION, account });
const kms = await KmsEmulator.start({ region: REGION, account });
const ecr = await EcrEmulator.start({ region: REGION, password: 'pw', account });
const cfn = await CloudFormationEmulator.start({ region: REGION, account });
const cw = await CloudWatchEmulator.start({ region: REGION, account });
const ec2 = await Ec2Emulator.start({ region: REGION, account });
const s3 = await S3Emulator.start({ region: REGION, account });
try {
  cfn.expectSignal('fleet', 'AppServer');
  s3.createBucket('fleet-bucket');
  const blob = join(dir, 'blob');
  await writeFile(blob, Buffer.from(kms.encryptForTest('secret').slice('aws:kms:'.length), 'base64'));
  const body = join(dir, 'body');
  await writeFile(body, 'x');
  const cwModels = await cloudWatchJsonModel();
  const checks: Array<[string, string, string[], string | undefined]> = [
    ['logs:CreateLogGroup', logs.url, ['logs', 'create-log-group', '--log-group-name', 'g'], undefined],
    ['kms:Decrypt', kms.url, ['kms', 'decrypt', '--ciphertext-blob', `fileb://${blob}`], undefined],
    ['ecr:GetAuthorizationToken', ecr.url, ['ecr', 'get-authorization-token'], undefined],
    [
      'cloudformation:SignalResource',
      cfn.url,
      [
        'cloudformation',
        'signal-resource',
        '--stack-name',
        'fleet',
        '--logical-resource-id',
        'AppServer',
      ].concat(['--unique-id', 'i-0quota', '--status', 'SUCCESS']),
      undefined,
    ],
    [
      'monitoring:PutMetricData',
      cw.url,
      ['cloudwatch', 'put-metric-data', '--namespace', 'Fleet', '--metric-name', 'm', '--value', '1'],
      cwModels,
    ],
    ['ec2:DescribeVolumes', ec2.url, ['ec2', 'describe-volumes'], undefined],
    [
      's3:PUT',
      s3.url,
      ['s3api', 'put-object', '--bucket', 'fleet-bucket', '--key', 'p/k', '--body', body],
      undefined,
    ],
  ];
  for (const [api, url, args, dataPath] of checks) {
    const first = await aws(['--endpoint-url', url, ...args], dataPath);
    const before = { ...account.counters(api) };
    const second = await aws(['--endpoint-url', url, ...args], dataPath);
    const after = account.counters(api);
    const finalError = /An error occurred \(([^)]+)\)[^\n]*/.exec(second.stderr)?.[0] ?? '(no error)';
    const wire = /Response body:\s*\n?b?'?([^\n]{0,200})/.exec(second.stderr)?.[1] ?? '';
    const status = /"[A-Z]+ [^"]*" (\d{3})/.exec(second.stderr)?.[1] ?? '?';
    const retryLines = second.stderr
      .split('\n')
      .filter((l) => /Retry needed|retrying request/i.test(l)).length;
    console.log(`== ${api}`);
    console.log(`  first run: exit ${String(first.code)}`);
    console.log(
      `  second run: exit ${String(second.code)}, HTTP ${status}, requests ${String(after.calls - before.calls)}, ` +
        `SDK retries seen by the emulator ${String(after.retried - before.retried)}, debug "Retry needed" lines ${String(retryLines)}`,
    );
    console.log(`  ${finalError}`);
    if (wire) console.log(`  body: ${wire}`);
  }
} finally {
  await Promise.all([
    logs.close(),
    kms.close(),
    ecr.close(),
    cfn.close(),
    cw.close(),
    ec2.close(),
    s3.stop(),
  ]);
  await rm(dir, { recursive: true, force: true });
}
