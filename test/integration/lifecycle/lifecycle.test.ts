import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { TaupageError } from '../../../src/core/errors.js';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import { AwsAutoScalingLifecycleAction } from '../../../src/lifecycle/aws-autoscaling-lifecycle-action.js';
import { drainOnTermination } from '../../../src/lifecycle/lifecycle-drain.js';
import { LifecycleWatcher, type TerminationNotice } from '../../../src/lifecycle/lifecycle-watcher.js';
import type { Scheduler } from '../../../src/metrics/scheduler.js';
import { ImdsInstanceMetadata } from '../../../src/metadata/imds-instance-metadata.js';
import { AutoScalingEmulator } from '../../emulators/autoscaling-emulator.js';
import { ImdsEmulator } from '../../emulators/imds-emulator.js';

const INSTANCE = 'i-0123456789abcdef0';
const GROUP = 'hello-app-v1-AppServer-1A2B3C';
const HOOK = 'hello-drain';
let logLines: string[] = [];
const log = createLogger({
  level: 'debug',
  redactor: new Redactor(),
  destination: { write: (line: string) => void logLines.push(line) },
});

let imds: ImdsEmulator;
let asg: AutoScalingEmulator;
let metadata: ImdsInstanceMetadata;
let completer: AwsAutoScalingLifecycleAction;

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDLIFECYCLETEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'lifecycle-test-secret';
  imds = await ImdsEmulator.start({ network: { mac: '02:aa:bb:cc:dd:ee', subnetId: 'subnet-0a1b2c3d' } });
  asg = await AutoScalingEmulator.start({ region: 'eu-central-1' });
  metadata = new ImdsInstanceMetadata({ baseUrl: imds.url, clock: systemClock, log, budgetMs: 2_000 });
  completer = new AwsAutoScalingLifecycleAction({ region: 'eu-central-1', endpoint: asg.url });
});
afterAll(async () => {
  completer.destroy();
  await imds.close();
  await asg.close();
});
beforeEach(() => {
  imds.setSpotInstanceAction(undefined);
  imds.setTargetLifecycleState(undefined);
  logLines = [];
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

function watcher() {
  const notices: TerminationNotice[] = [];
  const scheduler = manualScheduler();
  const w = new LifecycleWatcher({ source: metadata, scheduler, log, onTermination: (n) => notices.push(n) });
  w.start();
  return { w, notices, scheduler };
}

describe('LifecycleWatcher against the IMDS emulator', () => {
  it('polls every 5 s and reports a spot interruption once, then stops polling', async () => {
    const { w, notices, scheduler } = watcher();
    expect(scheduler.expression).toBe('*/5 * * * * *');
    await scheduler.job?.();
    imds.setTargetLifecycleState('InService');
    await scheduler.job?.();
    expect(notices).toEqual([]);

    imds.setSpotInstanceAction({ action: 'terminate', time: '2030-01-01T00:02:00Z' });
    await scheduler.job?.();
    await w.pollOnce();
    expect(notices).toEqual([{ source: 'spot', action: 'terminate', time: '2030-01-01T00:02:00Z' }]);
    expect(scheduler.stopped).toBe(true);
    const polls = imds.requests.filter((r) => r.path.endsWith('spot/instance-action')).length;
    await w.pollOnce();
    expect(imds.requests.filter((r) => r.path.endsWith('spot/instance-action')).length).toBe(polls);
  });

  it.each([
    ['Terminated', true],
    ['Warmed:Stopped', true],
    ['Warmed:Hibernated', true],
    ['Warmed:Terminated', true],
    ['Warmed:Running', false],
    ['Detached', false],
    ['InService', false],
  ])('treats the Auto Scaling target state %s as a termination notice: %s', async (state, notice) => {
    imds.setTargetLifecycleState(state);
    const { w, notices } = watcher();
    await w.pollOnce();
    expect(notices).toEqual(notice ? [{ source: 'autoscaling', targetState: state }] : []);
    w.stop();
  });

  it('shrugs off IMDS failures and logs them once until IMDS answers again', async () => {
    const { w, notices } = watcher();
    imds.respondWithStatus(500, 4);
    expect(await w.pollOnce()).toBeUndefined();
    expect(await w.pollOnce()).toBeUndefined();
    imds.setTargetLifecycleState('Terminated');
    expect(await w.pollOnce()).toEqual({ source: 'autoscaling', targetState: 'Terminated' });
    expect(notices).toHaveLength(1);
    const warnings = logLines.filter((l) => l.includes('Could not poll IMDS for termination notices'));
    expect(warnings).toHaveLength(1);
    expect(logLines.some((l) => l.includes('IMDS answers the lifecycle polls again'))).toBe(true);
  });

  it("reads the primary interface's subnet for nat_gateways", async () => {
    expect(await metadata.subnetId(AbortSignal.timeout(5_000))).toBe('subnet-0a1b2c3d');
  });
});

describe('CompleteLifecycleAction against the Auto Scaling emulator', () => {
  beforeEach(() => {
    asg.createGroup(GROUP, [
      { name: HOOK, transition: 'terminating' },
      { name: 'warmup', transition: 'launching' },
    ]);
    asg.addInstance(GROUP, INSTANCE);
  });

  it('completes the waiting termination hook, finding the group itself when IMDS tags are off', async () => {
    asg.beginTermination(GROUP, INSTANCE);
    await completer.complete(
      { hookName: HOOK, instanceId: INSTANCE, autoScalingGroupName: undefined },
      AbortSignal.timeout(10_000),
    );
    expect(asg.completed).toContainEqual({
      hook: HOOK,
      group: GROUP,
      instanceId: INSTANCE,
      result: 'CONTINUE',
    });
    expect(asg.lifecycleState(GROUP, INSTANCE)).toBe('Terminating:Proceed');
    expect(asg.calls.slice(-2)).toEqual(['DescribeAutoScalingInstances', 'CompleteLifecycleAction']);
  });

  it('says when no lifecycle action is waiting, as a permanent failure', async () => {
    const failure = await completer
      .complete(
        { hookName: HOOK, instanceId: INSTANCE, autoScalingGroupName: GROUP },
        AbortSignal.timeout(10_000),
      )
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TaupageError);
    expect(failure).toMatchObject({
      code: 'LIFECYCLE_ACTION_FAILED',
      retriable: false,
      message: `CompleteLifecycleAction of hook ${HOOK} for ${INSTANCE} failed (ValidationError: No active Lifecycle Action found with instance ID ${INSTANCE})`,
    });
  });

  it('fails when the instance is in no group', async () => {
    const failure = await completer
      .complete(
        { hookName: HOOK, instanceId: 'i-00000000000000000', autoScalingGroupName: undefined },
        AbortSignal.timeout(10_000),
      )
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({
      code: 'LIFECYCLE_ACTION_FAILED',
      message: 'i-00000000000000000 is not in an Auto Scaling group',
    });
  });

  it('rides out throttling (the SDK retries it)', async () => {
    asg.beginTermination(GROUP, INSTANCE);
    asg.throttleNext(1);
    await completer.complete(
      { hookName: HOOK, instanceId: INSTANCE, autoScalingGroupName: GROUP },
      AbortSignal.timeout(20_000),
    );
    expect(asg.lifecycleState(GROUP, INSTANCE)).toBe('Terminating:Proceed');
  });

  it('drains on a Terminated notice: stop, flush, then complete the hook', async () => {
    asg.beginTermination(GROUP, INSTANCE);
    imds.setTargetLifecycleState('Terminated');
    const order: string[] = [];
    const { w, notices } = watcher();
    await w.pollOnce();
    const [notice] = notices;
    if (notice === undefined) throw new Error('no notice');
    const report = await drainOnTermination(
      {
        setDraining: () => order.push('draining'),
        stopApp: (seconds) => {
          order.push(`stop ${seconds}`);
          return Promise.resolve();
        },
        flushLogs: () => {
          order.push('flush logs');
          return Promise.resolve();
        },
        flushAudit: () => {
          order.push('flush audit');
          return Promise.resolve();
        },
        completeLifecycleAction: async (signal) => {
          expect(asg.lifecycleState(GROUP, INSTANCE)).toBe('Terminating:Wait');
          await completer.complete(
            { hookName: HOOK, instanceId: INSTANCE, autoScalingGroupName: GROUP },
            signal,
          );
          order.push('completed');
        },
      },
      { notice, stopTimeoutSeconds: 30, log },
    );
    expect(order).toEqual(['draining', 'stop 30', 'flush logs', 'flush audit', 'completed']);
    expect(report.steps.map((s) => [s.step, s.outcome])).toEqual([
      ['stop-app', 'done'],
      ['flush-logs', 'done'],
      ['flush-audit', 'done'],
      ['complete-lifecycle-action', 'done'],
    ]);
    expect(asg.lifecycleState(GROUP, INSTANCE)).toBe('Terminating:Proceed');
  });
});
