import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { enhancedMetricDatums } from '../../../src/metrics/enhanced-metrics.js';
import {
  batchDatums,
  datumBytes,
  MAX_DATUMS_PER_REQUEST,
  MAX_REQUEST_BYTES,
} from '../../../src/metrics/metric-batches.js';
import type { MetricDatum } from '../../../src/metrics/metric-datum.js';
import { everySeconds } from '../../../src/metrics/scheduler.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const at = new Date('2026-11-21T00:00:00Z');

describe('enhanced CloudWatch metric datums (mon-put-instance-data.pl)', () => {
  it('memory, swap and disk per mount, each once per instance and once per Auto Scaling group', () => {
    const datums = enhancedMetricDatums(
      {
        meminfo: new Map([
          ['MemTotal_bytes', 8 * GiB],
          ['MemAvailable_bytes', 6 * GiB],
          ['SwapTotal_bytes', 2 * GiB],
          ['SwapFree_bytes', 1.5 * GiB],
        ]),
        filesystems: [
          {
            device: '/dev/nvme0n1p1',
            mountpoint: '/',
            fstype: 'ext4',
            readonly: false,
            stats: {
              sizeBytes: 100 * GiB,
              freeBytes: 30 * GiB,
              availBytes: 25 * GiB,
              files: 1,
              filesFree: 1,
            },
          },
          { device: '/dev/x', mountpoint: '/broken', fstype: 'xfs', readonly: false, stats: undefined },
        ],
      },
      { instanceId: 'i-1', autoScalingGroupName: 'asg-1' },
      at,
    );
    const summary = datums.map((d) => [
      d.metricName,
      d.unit,
      Math.round(d.value * 100) / 100,
      d.dimensions.map((x) => x.name).join('+'),
    ]);
    expect(summary).toEqual([
      ['MemoryUtilization', 'Percent', 25, 'InstanceId'],
      ['MemoryUtilization', 'Percent', 25, 'AutoScalingGroupName'],
      ['MemoryUsed', 'Megabytes', 2048, 'InstanceId'],
      ['MemoryUsed', 'Megabytes', 2048, 'AutoScalingGroupName'],
      ['MemoryAvailable', 'Megabytes', 6144, 'InstanceId'],
      ['MemoryAvailable', 'Megabytes', 6144, 'AutoScalingGroupName'],
      ['SwapUtilization', 'Percent', 25, 'InstanceId'],
      ['SwapUtilization', 'Percent', 25, 'AutoScalingGroupName'],
      ['DiskSpaceUtilization', 'Percent', 73.68, 'InstanceId+Filesystem+MountPath'],
      ['DiskSpaceUtilization', 'Percent', 73.68, 'AutoScalingGroupName+Filesystem+MountPath'],
      ['DiskSpaceUsed', 'Gigabytes', 70, 'InstanceId+Filesystem+MountPath'],
      ['DiskSpaceUsed', 'Gigabytes', 70, 'AutoScalingGroupName+Filesystem+MountPath'],
      ['DiskSpaceAvailable', 'Gigabytes', 25, 'InstanceId+Filesystem+MountPath'],
      ['DiskSpaceAvailable', 'Gigabytes', 25, 'AutoScalingGroupName+Filesystem+MountPath'],
    ]);
    expect(datums.every((d) => d.timestamp === at)).toBe(true);
    expect(MiB).toBe(1048576);
  });

  it('no swap is 0 % swap utilisation, not NaN', () => {
    const datums = enhancedMetricDatums(
      { meminfo: new Map([['MemTotal_bytes', GiB]]), filesystems: [] },
      { instanceId: 'i-1', autoScalingGroupName: undefined },
      at,
    );
    expect(datums.find((d) => d.metricName === 'SwapUtilization')?.value).toBe(0);
  });
});

const datum = (overrides: Partial<MetricDatum> = {}): MetricDatum => ({
  metricName: 'M',
  unit: 'Count',
  value: 1,
  dimensions: [{ name: 'InstanceId', value: 'i-1' }],
  timestamp: at,
  ...overrides,
});

describe('batchDatums (PutMetricData limits)', () => {
  it('drops what CloudWatch rejects: NaN, Infinity, > 30 dimensions, empty dimension values', () => {
    const { batches, rejected } = batchDatums([
      datum(),
      datum({ value: NaN }),
      datum({ value: -Infinity }),
      datum({ value: 2 ** 361 }),
      datum({ dimensions: Array.from({ length: 31 }, (_, i) => ({ name: `d${i}`, value: 'v' })) }),
      datum({ dimensions: [{ name: 'MountPath', value: '' }] }),
    ]);
    expect(rejected).toBe(5);
    expect(batches).toEqual([[datum()]]);
  });

  it('never exceeds 1,000 datums or the byte budget per request, and loses nothing valid', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            name: fc.string({ minLength: 1, maxLength: 255 }),
            dims: fc.array(fc.string({ minLength: 1, maxLength: 1024 }), { maxLength: 30 }),
            value: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e100, max: 1e100 }),
          }),
          { maxLength: 2_500 },
        ),
        (specs) => {
          const datums = specs.map((spec) =>
            datum({
              metricName: spec.name,
              value: spec.value,
              dimensions: spec.dims.map((value, i) => ({ name: `D${i}`, value })),
            }),
          );
          const { batches, rejected } = batchDatums(datums);
          expect(rejected).toBe(0);
          expect(batches.flat()).toEqual(datums);
          for (const batch of batches) {
            expect(batch.length).toBeLessThanOrEqual(MAX_DATUMS_PER_REQUEST);
            expect(batch.reduce((sum, d) => sum + datumBytes(d), 0)).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});

describe('everySeconds (node-cron expressions)', () => {
  it('turns intervals into clock-aligned schedules and refuses ones that drift', () => {
    expect(everySeconds(60)).toBe('0 * * * * *');
    expect(everySeconds(300)).toBe('0 */5 * * * *');
    expect(everySeconds(10)).toBe('*/10 * * * * *');
    expect(() => everySeconds(45)).toThrow(/does not divide/);
    expect(() => everySeconds(7 * 60)).toThrow(/does not divide/);
  });
});
