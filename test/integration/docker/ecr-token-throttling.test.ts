// ECR GetAuthorizationToken under a fleet's scale-out (docs/fleet.md): throttling is retried
// with jittered backoff inside the token source, one SDK attempt per call, and the token is
// asked for once per region while it is valid.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsEcrTokenSource, ECR_TOKEN_RETRY } from '../../../src/docker/aws-ecr-token-source.js';
import { EcrEmulator } from '../../emulators/ecr-emulator.js';
import { cappedClock } from '../../support/capped-clock.js';
import { ThrottlingProxy } from '../../support/throttling-proxy.js';

let ecr: EcrEmulator;
let proxy: ThrottlingProxy;
const signal = new AbortController().signal;

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDECRTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'ecr-test-secret';
  ecr = await EcrEmulator.start({ password: 'ecr-password' });
  proxy = await ThrottlingProxy.start({ upstream: ecr.url, protocol: 'json' });
});
afterAll(async () => {
  await proxy.close();
  await ecr.close();
});

describe('ECR GetAuthorizationToken under throttling', () => {
  it('retries ThrottlingException with jittered, capped waits until it gets the token', async () => {
    const delays: number[] = [];
    const clock = cappedClock(5);
    const recording = {
      now: () => clock.now(),
      sleep: (ms: number, s?: AbortSignal) => {
        delays.push(ms);
        return clock.sleep(ms, s);
      },
    };
    const source = new AwsEcrTokenSource(proxy.url, recording);
    const before = { calls: ecr.calls, throttled: proxy.total(proxy.throttled) };
    // More than the SDK's default 3 attempts would survive.
    proxy.throttleNext(8);
    const token = await source.token(ecr.region, signal);
    expect(token.password.reveal()).toBe('ecr-password');
    expect(proxy.total(proxy.throttled) - before.throttled).toBe(8);
    // One SDK attempt per retry: 8 throttled + 1 answered, nothing multiplied.
    expect(ecr.calls - before.calls).toBe(1);
    expect(delays).toHaveLength(8);
    for (const ms of delays) expect(ms).toBeLessThanOrEqual(ECR_TOKEN_RETRY.maxDelayMs);
  });

  it('fails as retriable (the pull retries) when throttling outlasts the budget', async () => {
    const source = new AwsEcrTokenSource(proxy.url, {
      // Virtual time: each wait moves the clock on, so the 60 s budget is spent in milliseconds.
      now: (() => {
        let offset = 0;
        const start = Date.now();
        return () => start + (offset += 2_000);
      })(),
      sleep: () => Promise.resolve(),
    });
    proxy.throttleNext(1_000);
    try {
      await expect(source.token(ecr.region, signal)).rejects.toMatchObject({
        code: 'IMAGE_PULL_FAILED',
        retriable: true,
      });
    } finally {
      proxy.clearThrottles();
    }
  });
});
