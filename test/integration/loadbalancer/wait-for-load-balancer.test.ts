import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { AwsLoadBalancerHealth } from '../../../src/loadbalancer/aws-load-balancer-health.js';
import { waitForLoadBalancer } from '../../../src/loadbalancer/wait-for-load-balancer.js';
import { ElbEmulator } from '../../emulators/elb-emulator.js';

let elb: ElbEmulator;
let health: AwsLoadBalancerHealth;
const INSTANCE = 'i-0elb00000000001';
const ARN = 'arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/app/0123456789abcdef';

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDELBTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'elb-secret';
  elb = await ElbEmulator.start({ region: 'eu-central-1' });
  health = new AwsLoadBalancerHealth({ region: 'eu-central-1', endpoint: elb.url });
});
afterAll(async () => {
  await elb.close();
});

const wait = (target: Parameters<typeof waitForLoadBalancer>[0]['target'], timeoutMs = 5_000) =>
  waitForLoadBalancer({
    health,
    target,
    instanceId: INSTANCE,
    clock: systemClock,
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    pollIntervalMs: 20,
    timeoutMs,
  });

describe('waitForLoadBalancer (real SDK, ELB query-protocol emulator)', () => {
  it('waits until the classic ELB reports InService', async () => {
    elb.classicInstance('kio-lb', INSTANCE, ['OutOfService', 'OutOfService', 'InService']);
    await expect(wait({ type: 'elb', loadBalancerName: 'kio-lb' })).resolves.toMatchObject({
      polls: 3,
      detail: 'InService: N/A: N/A',
    });
  });

  it('waits until every registration in the target group is healthy, and rides out throttling', async () => {
    elb.targetGroupInstance(ARN, INSTANCE, [
      [{ state: 'initial', reason: 'Elb.RegistrationInProgress' }],
      [{ state: 'healthy' }, { state: 'initial' }],
      [{ state: 'healthy' }, { state: 'healthy' }],
    ]);
    elb.throttleNext(1);
    await expect(wait({ type: 'alb', targetGroupArn: ARN })).resolves.toMatchObject({ polls: 4 });
  });

  it('backs off while the API throttles (doubling, capped) and polls at a jittered interval otherwise', async () => {
    elb.targetGroupInstance(`${ARN}-throttled`, INSTANCE, [[{ state: 'initial' }], [{ state: 'healthy' }]]);
    elb.throttleNext(5);
    const slept: number[] = [];
    let offset = 0;
    const clock = {
      now: () => Date.now() + offset,
      sleep: (ms: number) => {
        slept.push(ms);
        offset += ms;
        return Promise.resolve();
      },
    };
    await expect(
      waitForLoadBalancer({
        health,
        target: { type: 'alb', targetGroupArn: `${ARN}-throttled` },
        instanceId: INSTANCE,
        clock,
        log: pino({ level: 'silent' }),
        signal: new AbortController().signal,
        pollIntervalMs: 5_000,
        timeoutMs: 300_000,
        random: () => 0.99,
      }),
    ).resolves.toMatchObject({ polls: 7 });
    // Five throttled polls: 2×, 4×, 8× the interval, then the 30 s cap (full jitter at 0.99);
    // after an answer, the interval again, jittered (0.5 + 0.99).
    expect(slept).toEqual([9_900, 19_800, 29_700, 29_700, 29_700, 7_450]);
  });

  it('times out with LOAD_BALANCER_TIMEOUT naming the last state', async () => {
    elb.targetGroupInstance(`${ARN}-2`, INSTANCE, [
      [{ state: 'unhealthy', reason: 'Target.ResponseCodeMismatch' }],
    ]);
    await expect(wait({ type: 'alb', targetGroupArn: `${ARN}-2` }, 200)).rejects.toMatchObject({
      code: 'LOAD_BALANCER_TIMEOUT',
      message: expect.stringMatching(/last: unhealthy: Target\.ResponseCodeMismatch/) as unknown,
    });
  });

  it('fails at once when the load balancer does not exist', async () => {
    await expect(wait({ type: 'elb', loadBalancerName: 'no-such-lb' })).rejects.toMatchObject({
      code: 'LOAD_BALANCER_UNAVAILABLE',
      retriable: false,
    });
  });

  // Issue 15: an ELB API that never answered says nothing about the app; the boot ends with a
  // restartable code (4), not LOAD_BALANCER_TIMEOUT (3, terminal).
  it('ends an ELB API outage that lasts the whole wait with LOAD_BALANCER_UNAVAILABLE, exit 4', async () => {
    const { createServer } = await import('node:net');
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const port = (dead.address() as { port: number }).port;
    await new Promise<void>((resolve) =>
      dead.close(() => {
        resolve();
      }),
    );
    const unreachable = new AwsLoadBalancerHealth({
      region: 'eu-central-1',
      endpoint: `http://127.0.0.1:${port}`,
    });
    await expect(
      waitForLoadBalancer({
        health: unreachable,
        target: { type: 'elb', loadBalancerName: 'kio-lb' },
        instanceId: INSTANCE,
        clock: systemClock,
        log: pino({ level: 'silent' }),
        signal: new AbortController().signal,
        pollIntervalMs: 20,
        timeoutMs: 200,
      }),
    ).rejects.toMatchObject({ code: 'LOAD_BALANCER_UNAVAILABLE', retriable: true, exitCode: 4 });
  });
});
