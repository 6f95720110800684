import type { FilesystemUsage } from './filesystem-collector.js';
import type { MetricDatum, MetricUnit } from './metric-datum.js';

/** The original's namespace (AWS's mon-put-instance-data.pl scripts), so dashboards and alarms keep working. */
export const ENHANCED_METRICS_NAMESPACE = 'System/Linux';
const MEGABYTE = 1024 * 1024;
const GIGABYTE = 1024 * 1024 * 1024;

export interface HostSample {
  /** /proc/meminfo fields in node_exporter's names (MemTotal_bytes, …). */
  readonly meminfo: ReadonlyMap<string, number>;
  readonly filesystems: readonly FilesystemUsage[];
}

export interface EnhancedMetricsIdentity {
  readonly instanceId: string;
  readonly autoScalingGroupName: string | undefined;
}

/**
 * mon-put-instance-data.pl --mem-util --mem-used --mem-avail --swap-util --disk-space-util
 * --disk-space-used --disk-space-avail --auto-scaling, for every mounted filesystem: each
 * metric once per instance (InstanceId) and once for the Auto Scaling group
 * (AutoScalingGroupName), disks with Filesystem and MountPath too. Memory "available" is the
 * kernel's MemAvailable (the script predates it and summed free + buffers + cached).
 */
export function enhancedMetricDatums(
  sample: HostSample,
  identity: EnhancedMetricsIdentity,
  timestamp: Date,
): MetricDatum[] {
  const datums: MetricDatum[] = [];
  const add = (
    metricName: string,
    unit: MetricUnit,
    value: number,
    extra: readonly { name: string; value: string }[] = [],
  ): void => {
    datums.push({
      metricName,
      unit,
      value,
      dimensions: [{ name: 'InstanceId', value: identity.instanceId }, ...extra],
      timestamp,
    });
    if (identity.autoScalingGroupName !== undefined) {
      datums.push({
        metricName,
        unit,
        value,
        dimensions: [{ name: 'AutoScalingGroupName', value: identity.autoScalingGroupName }, ...extra],
        timestamp,
      });
    }
  };

  const field = (name: string): number | undefined => sample.meminfo.get(name);
  const total = field('MemTotal_bytes');
  const available =
    field('MemAvailable_bytes') ??
    (field('MemFree_bytes') ?? 0) + (field('Buffers_bytes') ?? 0) + (field('Cached_bytes') ?? 0);
  if (total !== undefined && total > 0) {
    const used = total - available;
    add('MemoryUtilization', 'Percent', (100 * used) / total);
    add('MemoryUsed', 'Megabytes', used / MEGABYTE);
    add('MemoryAvailable', 'Megabytes', available / MEGABYTE);
  }
  const swapTotal = field('SwapTotal_bytes') ?? 0;
  const swapFree = field('SwapFree_bytes') ?? 0;
  add('SwapUtilization', 'Percent', swapTotal > 0 ? (100 * (swapTotal - swapFree)) / swapTotal : 0);

  for (const fs of sample.filesystems) {
    if (fs.stats === undefined || fs.stats.sizeBytes <= 0) continue;
    const dims = [
      { name: 'Filesystem', value: fs.device },
      { name: 'MountPath', value: fs.mountpoint },
    ];
    const used = fs.stats.sizeBytes - fs.stats.freeBytes;
    // Like df's Use%: what non-root users can still write is what counts.
    const usable = used + fs.stats.availBytes;
    add('DiskSpaceUtilization', 'Percent', usable > 0 ? (100 * used) / usable : 0, dims);
    add('DiskSpaceUsed', 'Gigabytes', used / GIGABYTE, dims);
    add('DiskSpaceAvailable', 'Gigabytes', fs.stats.availBytes / GIGABYTE, dims);
  }
  return datums;
}
