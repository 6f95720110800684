import type { RetryPolicy } from '../../core/retry.js';
import type { DevicePaths } from './block-devices.js';
import { parseApplicationUser } from '../application-user.js';
import type { FileOwner } from './filesystems.js';

/** How long the disk step waits for what; named so each number carries its reason. */
export interface DiskTimings {
  /** Searches for an available volume by Name, and the pause between them. */
  readonly volumeSearchAttempts: number;
  readonly volumeSearchIntervalMs: number;
  /** From AttachVolume until EC2 reports the attachment `attached`. */
  readonly attachTimeoutMs: number;
  readonly attachPollMs: number;
  /** Until a device node exists and opens. */
  readonly deviceTimeoutMs: number;
  readonly devicePollMs: number;
  /** mdadm --create retries while a member is "busy". */
  readonly raidBusyAttempts: number;
  readonly raidBusyIntervalMs: number;
  /** Every EC2 call: throttling and 5xx only. */
  readonly ec2Retry: RetryPolicy;
}

/**
 * EC2 throttles API calls per account and region (a token bucket shared by the whole fleet, so
 * an Auto Scaling group booting at once throttles itself). The original retried 10 times with
 * back-off; full jitter from 1 s doubling to 30 s spreads the fleet, and a 3-minute budget keeps
 * a throttled account from holding the boot for ever.
 */
export const EC2_RETRY_POLICY: RetryPolicy = {
  name: 'ec2',
  maxAttempts: 10,
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  multiplier: 2,
  budgetMs: 3 * 60_000,
  jitter: true,
};

export const DEFAULT_DISK_TIMINGS: DiskTimings = {
  // The original's 10 × 120 s: the volume may still be detaching from the instance this one
  // replaces (taupage issue #441), which takes minutes when the old instance shuts down slowly.
  volumeSearchAttempts: 10,
  volumeSearchIntervalMs: 120_000,
  // Attachments normally take seconds; EC2 documents no bound, two minutes is generous.
  attachTimeoutMs: 120_000,
  attachPollMs: 1_000,
  // The original's 12 × 5 s for a device node to appear after the attachment.
  deviceTimeoutMs: 60_000,
  devicePollMs: 500,
  // The original's 12 × 5 s for members still held by udev right after the attachment.
  raidBusyAttempts: 12,
  raidBusyIntervalMs: 5_000,
  ec2Retry: EC2_RETRY_POLICY,
};

export interface DiskSettings extends DevicePaths {
  /** Host side of `mounts`: `/mounts<path>`, bind-mounted at `<path>` in the container. */
  readonly mountRoot: string;
  /** The `application` user: owner of new filesystems and mount points unless `root: true`. */
  readonly applicationOwner: FileOwner;
  readonly timings: DiskTimings;
}

/** The real paths; `applicationUser` is the agent's `uid:gid` setting (999:999 on the AMI). */
export function defaultDiskSettings(applicationUser: string): DiskSettings {
  return {
    devDir: '/dev',
    sysBlockDir: '/sys/block',
    byIdDir: '/dev/disk/by-id',
    mountRoot: '/mounts',
    applicationOwner: parseApplicationUser(applicationUser),
    timings: DEFAULT_DISK_TIMINGS,
  };
}
