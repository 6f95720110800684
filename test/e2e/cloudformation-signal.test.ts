import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudFormationEmulator } from '../emulators/cloudformation-emulator.js';
import { ElbEmulator } from '../emulators/elb-emulator.js';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { AgentProcess } from '../support/agent-process.js';
import { env, eventually, freePort } from '../support/test-env.js';

const docker = new Docker();
const INSTANCE_ID = 'i-0cfn000000000001';
let cfn: CloudFormationEmulator;
let elb: ElbEmulator;
let workDir: string;
const containers: string[] = [];

beforeAll(async () => {
  cfn = await CloudFormationEmulator.start({ region: 'eu-central-1' });
  elb = await ElbEmulator.start({ region: 'eu-central-1' });
  workDir = await mkdtemp(join(tmpdir(), 'taupage-cfn-'));
});
afterAll(async () => {
  for (const name of containers) {
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
  }
  await cfn.close();
  await elb.close();
  await rm(workDir, { recursive: true, force: true });
});

/** Boots the built agent with `body` as user data and waits for it to exit or to finish booting. */
async function boot(body: string): Promise<{ agent: AgentProcess; imds: ImdsEmulator }> {
  const userData = `#taupage-ami-config\nruntime: Docker\napplication_id: cfn-app\n${body}`;
  const imds = await ImdsEmulator.start({
    userData,
    identity: { region: 'eu-central-1', instanceId: INSTANCE_ID },
  });
  const name = `taupage-cfn-${randomBytes(4).toString('hex')}`;
  containers.push(name);
  const agent = new AgentProcess(
    [
      'agent',
      ...[
        '--imds-url',
        imds.url,
        '--cloudformation-endpoint',
        cfn.url,
        '--elb-endpoint',
        elb.url,
        '--status-listen',
        '127.0.0.1:0',
      ],
      ...[
        '--meta-dir',
        await mkdtemp(join(workDir, 'meta-')),
        '--defaults',
        '/nonexistent',
        '--container-name',
        name,
      ],
    ],
    {
      AWS_ACCESS_KEY_ID: 'AKIDCFNTEST',
      AWS_SECRET_ACCESS_KEY: 'x',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      AWS_CONFIG_FILE: '/nonexistent',
    },
  );
  return { agent, imds };
}

describe('notify_cfn: CloudFormation hears how the boot went', () => {
  it('signals SUCCESS with the instance id once the app is healthy, even when throttled once', async () => {
    const stack = `kio-${randomBytes(3).toString('hex')}`;
    cfn.expectSignal(stack, 'AppServer');
    cfn.throttleNext(1);
    const port = await freePort();
    const { agent, imds } = await boot(
      `source: ${env.image}\nports:\n  ${port}: 8080\nhealth_check_path: /health\nnotify_cfn:\n  stack: ${stack}\n  resource: AppServer\n`,
    );
    const signal = await eventually(
      () => Promise.resolve(cfn.signals.find((recorded) => recorded.stackName === stack)),
      'the SUCCESS signal',
      60_000,
    );
    expect(signal).toMatchObject({
      logicalResourceId: 'AppServer',
      uniqueId: INSTANCE_ID,
      status: 'SUCCESS',
    });
    const status = await agent.status();
    expect(status.boot).toMatchObject({ state: 'succeeded' });
    expect(await agent.stop()).toBe(0);
    await imds.close();
  });

  it('signals SUCCESS only once the target group reports the instance healthy (healthcheck: alb)', async () => {
    const stack = `kio-${randomBytes(3).toString('hex')}`;
    const arn = `arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/${stack}/0123456789abcdef`;
    cfn.expectSignal(stack, 'AppServer');
    elb.targetGroupInstance(arn, INSTANCE_ID, [[{ state: 'initial' }], [{ state: 'healthy' }]]);
    const port = await freePort();
    const { agent, imds } = await boot(
      `source: ${env.image}\nports:\n  ${port}: 8080\nhealth_check_path: /health\nhealthcheck:\n  type: alb\n  target_group_arn: ${arn}\nnotify_cfn:\n  stack: ${stack}\n  resource: AppServer\n`,
    );
    const signal = await eventually(
      () => Promise.resolve(cfn.signals.find((recorded) => recorded.stackName === stack)),
      'the SUCCESS signal after the load balancer gate',
      60_000,
    );
    expect(signal.status).toBe('SUCCESS');
    expect(elb.calls.filter((call) => call === 'DescribeTargetHealth')).toHaveLength(2);
    const steps = ((await agent.status()).boot as { steps: { name: string; outcome: string }[] }).steps;
    expect(steps.find((step) => step.name === 'loadbalancer')?.outcome).toBe('succeeded');
    expect(await agent.stop()).toBe(0);
    await imds.close();
  });

  it('signals FAILURE at once when the config is invalid (the original left the stack waiting 15 minutes)', async () => {
    const stack = `kio-${randomBytes(3).toString('hex')}`;
    cfn.expectSignal(stack, 'AppServer');
    const { agent, imds } = await boot(
      `ports:\n  8080: 8080\nnotify_cfn:\n  stack: ${stack}\n  resource: AppServer\n`,
    );
    expect(await agent.exited).toBe(2);
    expect(cfn.signals.filter((recorded) => recorded.stackName === stack)).toEqual([
      expect.objectContaining({ status: 'FAILURE', uniqueId: INSTANCE_ID }),
    ]);
    expect(agent.stderr).toMatch(/taupage: error CONFIG_INVALID: .*source/);
    await imds.close();
  });

  it('keeps the boot result when CloudFormation refuses the signal (unknown stack)', async () => {
    const { agent, imds } = await boot(
      `source: ${env.registry}/taupage-test/httpd:9.9.9\nnotify_cfn:\n  stack: no-such-stack\n  resource: AppServer\n`,
    );
    expect(await agent.exited).toBe(3);
    expect(
      agent.logLines.some((line) => String(line.msg).startsWith('Could not signal CloudFormation')),
    ).toBe(true);
    expect(agent.stderr).toMatch(/taupage: error IMAGE_NOT_FOUND/);
    await imds.close();
  });
});
