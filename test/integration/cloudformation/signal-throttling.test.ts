// The CloudFormation signal is never lost to throttling while the stack still waits
// (docs/fleet.md): throttling is retried for up to 15 minutes, each wait 1–10 s; a refusal that
// says the stack no longer waits is final at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AwsCloudFormationSignaller,
  CFN_SIGNAL_RETRY_POLICY,
} from '../../../src/cloudformation/aws-cloudformation-signaller.js';
import type { Clock } from '../../../src/core/clock.js';
import { CloudFormationEmulator } from '../../emulators/cloudformation-emulator.js';

const TARGET = { stack: 'app-stack-1', resource: 'AppServerAutoScalingGroup' };
const INSTANCE = 'i-0c0ffee000000000a';

let emulator: CloudFormationEmulator;

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDCFNTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'cfn-test-secret';
  emulator = await CloudFormationEmulator.start();
});
afterAll(async () => {
  await emulator.close();
});

/** Virtual time: a sleep returns at once and moves `now` on by what it was asked to wait. */
function virtualClock(): Clock & { readonly slept: number[]; elapsed(): number } {
  const slept: number[] = [];
  const start = Date.now();
  let offset = 0;
  return {
    slept,
    now: () => start + offset,
    sleep: (ms) => {
      slept.push(ms);
      offset += ms;
      return Promise.resolve();
    },
    elapsed: () => offset,
  };
}

describe('CloudFormation signal under throttling', () => {
  it('keeps signalling through a storm longer than a few attempts, every wait 1–10 s', async () => {
    emulator.expectSignal(TARGET.stack, TARGET.resource);
    const clock = virtualClock();
    const signaller = new AwsCloudFormationSignaller(
      { region: emulator.region, endpoint: emulator.url },
      clock,
    );
    // 60 throttled answers: the old policy (5 attempts, 30 s) lost the signal after the 5th.
    emulator.throttleNext(60);
    await signaller.signal(TARGET, 'SUCCESS', INSTANCE, new AbortController().signal);
    expect(emulator.signals.filter((s) => s.uniqueId === INSTANCE)).toHaveLength(1);
    expect(clock.slept).toHaveLength(60);
    for (const ms of clock.slept) {
      expect(ms).toBeGreaterThanOrEqual(1_000);
      expect(ms).toBeLessThanOrEqual(10_000);
    }
    // Jittered: a fleet does not retry in lockstep.
    expect(new Set(clock.slept).size).toBeGreaterThan(30);
  });

  it('gives up once the 15-minute budget is spent, no later', async () => {
    // Its own emulator: it stays throttled for good.
    const throttled = await CloudFormationEmulator.start();
    try {
      throttled.expectSignal(TARGET.stack, TARGET.resource);
      throttled.throttleNext(Number.POSITIVE_INFINITY);
      const clock = virtualClock();
      const signaller = new AwsCloudFormationSignaller(
        { region: throttled.region, endpoint: throttled.url },
        clock,
      );
      await expect(
        signaller.signal(TARGET, 'SUCCESS', INSTANCE, new AbortController().signal),
      ).rejects.toMatchObject({ code: 'CFN_SIGNAL_FAILED' });
      const budgetMs = CFN_SIGNAL_RETRY_POLICY.budgetMs ?? 0;
      expect(budgetMs).toBe(15 * 60_000);
      expect(clock.elapsed()).toBeLessThanOrEqual(budgetMs);
      expect(clock.elapsed()).toBeGreaterThan(budgetMs - 10_000);
      // About one attempt every 5.5 s (a random 1–10 s wait): ~160, never a tight loop.
      expect(clock.slept.length).toBeGreaterThan(100);
      expect(clock.slept.length).toBeLessThan(900);
    } finally {
      await throttled.close();
    }
  });

  it('stops at once when the stack no longer waits (ValidationError)', async () => {
    const clock = virtualClock();
    const signaller = new AwsCloudFormationSignaller(
      { region: emulator.region, endpoint: emulator.url },
      clock,
    );
    await expect(
      signaller.signal(
        { stack: 'no-such-stack', resource: TARGET.resource },
        'SUCCESS',
        INSTANCE,
        new AbortController().signal,
      ),
    ).rejects.toMatchObject({ code: 'CFN_SIGNAL_FAILED' });
    expect(clock.slept).toEqual([]);
  });
});
