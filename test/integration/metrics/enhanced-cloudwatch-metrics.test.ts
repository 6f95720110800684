import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { AwsCloudWatchPublisher } from '../../../src/metrics/aws-cloudwatch-publisher.js';
import { EnhancedCloudWatchMetrics } from '../../../src/metrics/enhanced-cloudwatch-metrics.js';
import type { HostSample } from '../../../src/metrics/enhanced-metrics.js';
import { readFilesystems } from '../../../src/metrics/filesystem-collector.js';
import { readMeminfo } from '../../../src/metrics/meminfo-collector.js';
import type { MetricDatum } from '../../../src/metrics/metric-datum.js';
import type { ScheduleOptions, Scheduler } from '../../../src/metrics/scheduler.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { AgentErrorReporter } from '../../../src/status/error-reporter.js';
import { Redactor } from '../../../src/core/redactor.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { CloudWatchEmulator } from '../../emulators/cloudwatch-emulator.js';

function unexpected(): never {
  throw new Error('no error expected here');
}

const ACCESS_KEY = 'AKIDCLOUDWATCHTEST';
const SECRET_KEY = 'cloudwatch-test-secret-key';
let emulator: CloudWatchEmulator;
let savedEnv: Record<string, string | undefined>;

beforeAll(async () => {
  emulator = await CloudWatchEmulator.start({
    region: 'eu-central-1',
    credentials: [{ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }],
  });
  savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = ACCESS_KEY;
  process.env.AWS_SECRET_ACCESS_KEY = SECRET_KEY;
});
afterAll(async () => {
  await emulator.close();
  process.env.AWS_ACCESS_KEY_ID = savedEnv.id;
  process.env.AWS_SECRET_ACCESS_KEY = savedEnv.secret;
  if (savedEnv.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
  if (savedEnv.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
});
beforeEach(() => {
  emulator.datums.length = 0;
  emulator.requests.length = 0;
  emulator.rejections.length = 0;
});

/** A scheduler the test triggers by hand: what node-cron would call every interval. */
function manualScheduler(): Scheduler & {
  expression: string | undefined;
  offsetMs: number | undefined;
  stopped: boolean;
} {
  const scheduler = {
    expression: undefined as string | undefined,
    offsetMs: undefined as number | undefined,
    stopped: false,
    schedule(expression: string, _job: () => Promise<void>, options?: ScheduleOptions) {
      scheduler.expression = expression;
      scheduler.offsetMs = options?.offsetMs;
      return {
        stop: () => {
          scheduler.stopped = true;
        },
      };
    },
  };
  return scheduler;
}

function publisherFor(
  sample: (signal: AbortSignal) => Promise<HostSample>,
  autoScalingGroupName: string | undefined,
) {
  const state = new AgentState(new BootTimeline(systemClock, []), {
    version: 'test',
    commit: 'test',
    mode: 'ec2',
    startedAt: new Date().toISOString(),
  });
  const scheduler = manualScheduler();
  const publisher = new AwsCloudWatchPublisher({ region: 'eu-central-1', endpoint: emulator.url });
  const metrics = new EnhancedCloudWatchMetrics({
    enabled: true,
    intervalSeconds: 60,
    identity: { instanceId: 'i-0cw0000000000001', autoScalingGroupName },
    sample,
    publisher: () => Promise.resolve(publisher),
    scheduler,
    clock: systemClock,
    log: pino({ level: 'silent' }),
    state,
    errors: new AgentErrorReporter({ state, redactor: new Redactor(), clock: systemClock }),
    metrics: undefined,
  });
  return { metrics, state, scheduler };
}

const hostSample = async (): Promise<HostSample> => ({
  meminfo: await readMeminfo('/proc'),
  filesystems: await readFilesystems('/proc'),
});

describe('enhanced CloudWatch metrics → the real SDK → the CloudWatch emulator (AWS JSON 1.0)', () => {
  it('publishes memory, swap and disk space per mount with InstanceId and AutoScalingGroupName', async () => {
    const { metrics, state, scheduler } = publisherFor(hostSample, 'app-stack-1');
    expect(metrics.start()).toBe(true);
    expect(scheduler.expression).toBe('0 * * * * *');
    await metrics.publishOnce();
    // Each instance publishes at its own offset after the minute (docs/fleet.md), not at :00.
    const other = publisherFor(hostSample, 'app-stack-1');
    other.metrics.start();
    other.metrics.stop();
    for (const offset of [scheduler.offsetMs, other.scheduler.offsetMs]) {
      expect(offset).toBeGreaterThanOrEqual(0);
      expect(offset).toBeLessThan(30_000);
    }
    expect(scheduler.offsetMs).not.toBe(other.scheduler.offsetMs);
    expect(emulator.rejections).toEqual([]);
    expect(emulator.requests.length).toBeGreaterThanOrEqual(1);
    expect(emulator.requests.every((request) => request.queryMode)).toBe(true);
    const names = new Set(emulator.datums.map((datum) => datum.metricName));
    expect([...names].sort()).toEqual([
      'DiskSpaceAvailable',
      'DiskSpaceUsed',
      'DiskSpaceUtilization',
      'MemoryAvailable',
      'MemoryUsed',
      'MemoryUtilization',
      'SwapUtilization',
    ]);
    expect(emulator.datums.every((datum) => datum.namespace === 'System/Linux')).toBe(true);
    const memory = emulator.datums.filter((datum) => datum.metricName === 'MemoryUtilization');
    expect(memory.map((datum) => datum.dimensions)).toEqual([
      { InstanceId: 'i-0cw0000000000001' },
      { AutoScalingGroupName: 'app-stack-1' },
    ]);
    expect(memory[0]?.unit).toBe('Percent');
    expect(memory[0]?.value).toBeGreaterThan(0);
    expect(memory[0]?.value).toBeLessThanOrEqual(100);
    const meminfo = await readMeminfo('/proc');
    const totalMb = (meminfo.get('MemTotal_bytes') ?? 0) / 1024 / 1024;
    const used = emulator.datums.find((datum) => datum.metricName === 'MemoryUsed')?.value ?? 0;
    const available = emulator.datums.find((datum) => datum.metricName === 'MemoryAvailable')?.value ?? 0;
    expect(used + available).toBeCloseTo(totalMb, 0);
    const rootDisk = emulator.datums.find(
      (datum) => datum.metricName === 'DiskSpaceUtilization' && datum.dimensions.MountPath === '/',
    );
    expect(rootDisk?.dimensions).toMatchObject({ InstanceId: 'i-0cw0000000000001', MountPath: '/' });
    expect(rootDisk?.dimensions.Filesystem).toBeTruthy();
    expect(rootDisk?.unit).toBe('Percent');
    expect(emulator.datums.find((datum) => datum.metricName === 'DiskSpaceUsed')?.unit).toBe('Gigabytes');
    expect(Math.abs((emulator.datums[0]?.timestamp ?? 0) - Date.now() / 1000)).toBeLessThan(60);
    expect(state.cloudwatch?.lastPublishedAt).toBeDefined();
    expect(state.cloudwatch?.lastDatums).toBe(emulator.datums.length);
    metrics.stop();
    expect(scheduler.stopped).toBe(true);
  });

  it('without an Auto Scaling group sends the InstanceId series only', async () => {
    const { metrics } = publisherFor(hostSample, undefined);
    await metrics.publishOnce();
    expect(emulator.datums.some((datum) => 'AutoScalingGroupName' in datum.dimensions)).toBe(false);
  });

  it('splits a large round into requests within the limits (≤ 1,000 datums, gzip) and drops NaN', async () => {
    // 400 mounts → 400 × 3 disk metrics × 2 series = 2,400 datums, plus memory and swap.
    const filesystems = Array.from({ length: 400 }, (_, index) => ({
      device: `/dev/nvme${index}n1`,
      mountpoint: `/mounts/data-${index}-${'x'.repeat(200)}`,
      fstype: 'ext4',
      readonly: false,
      stats: { sizeBytes: 100e9, freeBytes: 40e9, availBytes: 35e9, files: 1e6, filesFree: 9e5 },
    }));
    const meminfo = new Map([
      ['MemTotal_bytes', 8e9],
      ['MemAvailable_bytes', NaN],
      ['SwapTotal_bytes', 0],
    ]);
    const { metrics, state } = publisherFor(() => Promise.resolve({ meminfo, filesystems }), 'app-stack-1');
    metrics.start();
    await metrics.publishOnce();
    expect(emulator.rejections).toEqual([]);
    expect(emulator.requests.length).toBe(3);
    expect(emulator.requests.every((request) => request.datums <= 1_000 && request.gzip)).toBe(true);
    expect(emulator.datums.filter((datum) => datum.metricName.startsWith('DiskSpace'))).toHaveLength(2_400);
    // MemAvailable NaN → memory datums are NaN → left out; swap (0 %) still sent.
    expect(emulator.datums.some((datum) => datum.metricName.startsWith('Memory'))).toBe(false);
    expect(emulator.datums.filter((datum) => datum.metricName === 'SwapUtilization')).toHaveLength(2);
    expect(state.cloudwatch?.lastError).toBeUndefined();
  });

  it('retries throttling and 5xx, then succeeds', async () => {
    emulator.throttleNext(1);
    emulator.failNext(1);
    const { metrics, state } = publisherFor(hostSample, 'app-stack-1');
    metrics.start();
    await metrics.publishOnce();
    expect(emulator.rejections).toEqual(['ThrottlingException', 'InternalServiceFault']);
    expect(emulator.datums.length).toBeGreaterThan(0);
    expect(state.cloudwatch?.lastError).toBeUndefined();
    expect(state.errors).toEqual([]);
  });

  it('records a refused round in the status (lastErrors) and never throws', async () => {
    const state = new AgentState(new BootTimeline(systemClock, []), {
      version: 'test',
      commit: 'test',
      mode: 'ec2',
      startedAt: new Date().toISOString(),
    });
    const publisher = new AwsCloudWatchPublisher({ region: 'eu-central-1', endpoint: emulator.url });
    const tooManyDimensions: MetricDatum[] = [
      {
        metricName: 'Broken',
        unit: 'Count',
        value: 1,
        dimensions: Array.from({ length: 31 }, (_, i) => ({ name: `D${i}`, value: 'x' })),
        timestamp: new Date(),
      },
    ];
    // The publisher adapter alone does not batch: the emulator must refuse what AWS would.
    await expect(
      publisher.putMetricData('System/Linux', tooManyDimensions, AbortSignal.timeout(5_000)),
    ).rejects.toMatchObject({ code: 'METRICS_PUBLISH_FAILED', retriable: false });
    expect(emulator.rejections).toEqual(['InvalidParameterValueException']);

    const wrongKey = new EnhancedCloudWatchMetrics({
      enabled: true,
      intervalSeconds: 60,
      identity: { instanceId: 'i-0cw0000000000001', autoScalingGroupName: undefined },
      sample: hostSample,
      publisher: () =>
        Promise.resolve({
          putMetricData: (namespace, datums, signal) =>
            publisher.putMetricData(`AWS/${namespace}`, datums, signal),
        }),
      scheduler: manualScheduler(),
      clock: systemClock,
      log: pino({ level: 'silent' }),
      state,
      errors: new AgentErrorReporter({ state, redactor: new Redactor(), clock: systemClock }),
      metrics: undefined,
    });
    wrongKey.start();
    await wrongKey.publishOnce();
    expect(state.cloudwatch?.lastError?.code).toBe('METRICS_PUBLISH_FAILED');
    expect(state.errors[0]).toMatchObject({ component: 'cloudwatch', code: 'METRICS_PUBLISH_FAILED' });
  });

  it('is off unless the config asks for it', () => {
    const scheduler = manualScheduler();
    const metrics = new EnhancedCloudWatchMetrics({
      enabled: false,
      intervalSeconds: 60,
      identity: { instanceId: 'i-0', autoScalingGroupName: undefined },
      sample: hostSample,
      publisher: () => Promise.reject(new Error('must not load')),
      scheduler,
      clock: systemClock,
      log: pino({ level: 'silent' }),
      state: new AgentState(new BootTimeline(systemClock, []), {
        version: 't',
        commit: 't',
        mode: 'ec2',
        startedAt: new Date().toISOString(),
      }),
      errors: { report: unexpected, reportFailure: unexpected },
      metrics: undefined,
    });
    expect(metrics.start()).toBe(false);
    expect(scheduler.expression).toBeUndefined();
  });
});
