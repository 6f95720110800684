import { isTaupageError, TaupageError } from '../../core/errors.js';
import { retry, type RetryPolicy } from '../../core/retry.js';
import type { RaidArray } from '../../config/taupage-config.js';
import { hostDevicePath, waitForDevice } from './block-devices.js';
import { atKey, seconds, type DiskContext } from './disk-context.js';

export interface RaidReport {
  readonly device: string;
  readonly level: number;
  /** present: already running; assembled: from members that carry superblocks; created: new. */
  readonly action: 'present' | 'assembled' | 'created';
  readonly durationMs: number;
}

/**
 * `volumes.raid`, after `volumes.ebs`: an array that runs is left alone; members that carry md
 * superblocks are assembled (a reboot without mdadm.conf), never re-created over; only blank
 * members get `mdadm --create`.
 */
export async function assembleRaids(
  raids: ReadonlyMap<string, RaidArray>,
  context: DiskContext,
): Promise<RaidReport[]> {
  const reports: RaidReport[] = [];
  if (raids.size === 0) return reports;
  const driver = await context.raid.driverAvailable();
  for (const [device, array] of raids) {
    const keyPath = `volumes.raid.${device}`;
    const started = context.clock.now();
    try {
      if (!driver) {
        throw new TaupageError(
          'RAID_FAILED',
          'the kernel has no md (software RAID) driver: /proc/mdstat is missing',
        );
      }
      const action = await assembleRaid(device, array, keyPath, context);
      reports.push({ device, level: array.level, action, durationMs: context.clock.now() - started });
    } catch (error) {
      throw atKey(keyPath, error);
    }
  }
  return reports;
}

async function assembleRaid(
  device: string,
  array: RaidArray,
  keyPath: string,
  context: DiskContext,
): Promise<RaidReport['action']> {
  const { raid, settings, signal, log } = context;
  const target = hostDevicePath(device, settings.devDir);
  if (await raid.isActive(target, signal)) {
    log.info({ device }, 'RAID array is running already');
    return 'present';
  }
  const members: string[] = [];
  for (const member of array.devices) {
    const path = hostDevicePath(member, settings.devDir);
    const found = await waitForDevice(() => Promise.resolve([path]), {
      clock: context.clock,
      timeoutMs: settings.timings.deviceTimeoutMs,
      pollMs: settings.timings.devicePollMs,
      signal,
    });
    if (found === undefined) {
      throw atKey(
        `${keyPath}.devices`,
        new TaupageError(
          'DEVICE_NOT_FOUND',
          `device ${member} did not appear within ${seconds(settings.timings.deviceTimeoutMs)}`,
        ),
      );
    }
    members.push(found);
  }
  const withSuperblock: string[] = [];
  for (const member of members) if (await raid.hasSuperblock(member, signal)) withSuperblock.push(member);
  if (withSuperblock.length > 0) {
    log.info({ device, members }, 'Assembling RAID array from existing members');
    await raid.assemble(target, members, signal);
    return 'assembled';
  }
  log.info({ device, level: array.level, members }, 'Creating RAID array');
  const busyPolicy: RetryPolicy = {
    name: 'mdadm-busy',
    maxAttempts: settings.timings.raidBusyAttempts,
    initialDelayMs: settings.timings.raidBusyIntervalMs,
    maxDelayMs: settings.timings.raidBusyIntervalMs,
    multiplier: 1,
    jitter: false,
  };
  await retry(() => raid.create(target, array.level, members, signal), busyPolicy, {
    clock: context.clock,
    signal,
    isRetriable: (error) => isTaupageError(error) && error.code === 'RAID_FAILED' && error.retriable,
    onRetry: (error, attempt) => {
      log.warn({ err: error, attempt }, 'A RAID member is busy; retrying');
    },
  });
  return 'created';
}
