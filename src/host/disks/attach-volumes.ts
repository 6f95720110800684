import { isTaupageError, TaupageError } from '../../core/errors.js';
import {
  exists,
  findNvmeDevice,
  hostDevicePath,
  linkDevice,
  twinDevice,
  waitForDevice,
} from './block-devices.js';
import { atKey, callEc2, seconds, type DiskContext } from './disk-context.js';
import type { Ec2Volume } from './ec2-volumes.js';
import { expandVolumeName } from './volume-names.js';

export interface VolumeReport {
  /** The config device (`/dev/xvdf`). */
  readonly device: string;
  /** The Name tag after `${…}` substitution; undefined when the config left it empty. */
  readonly name: string | undefined;
  readonly volumeId: string | undefined;
  /**
   * present: the device existed, no EC2 call; already-attached: attached to this instance
   * before (a reboot on Nitro); attached: found and attached now; skipped: no name or no EC2.
   */
  readonly action: 'present' | 'already-attached' | 'attached' | 'skipped';
  /** The node that showed up (an NVMe namespace, the Xen twin, or the device itself). */
  readonly resolvedDevice: string | undefined;
  readonly durationMs: number;
}

/** `volumes.ebs`, in config order: find each volume by Name, attach it, wait for its device. */
export async function attachVolumes(
  ebs: ReadonlyMap<string, string | undefined>,
  context: DiskContext,
): Promise<VolumeReport[]> {
  const reports: VolumeReport[] = [];
  for (const [device, name] of ebs) {
    const started = context.clock.now();
    const keyPath = `volumes.ebs.${device}`;
    try {
      const result = await attachVolume(device, name, context);
      reports.push({ device, ...result, durationMs: context.clock.now() - started });
    } catch (error) {
      throw atKey(keyPath, error);
    }
  }
  return reports;
}

async function attachVolume(
  device: string,
  rawName: string | undefined,
  context: DiskContext,
): Promise<Omit<VolumeReport, 'device' | 'durationMs'>> {
  const { settings, log, instance } = context;
  const hostPath = hostDevicePath(device, settings.devDir);
  const twin = twinDevice(device);
  const twinPath = twin === undefined ? undefined : hostDevicePath(twin, settings.devDir);
  for (const path of [hostPath, twinPath]) {
    if (path !== undefined && (await exists(path))) {
      log.info({ device, path }, 'EBS device is present already');
      return { name: rawName, volumeId: undefined, action: 'present', resolvedDevice: path };
    }
  }
  if (rawName === undefined || context.ec2 === undefined) {
    log.warn(
      { device },
      rawName === undefined ? 'No volume name; not attaching' : 'No EC2 API; not attaching',
    );
    return { name: rawName, volumeId: undefined, action: 'skipped', resolvedDevice: undefined };
  }
  const expanded = expandVolumeName(rawName, instance);
  if ('error' in expanded) throw new TaupageError('VOLUME_NOT_FOUND', expanded.error);
  const { name } = expanded;
  const ec2 = context.ec2;

  // After a reboot on Nitro the volume is still ours, but /dev/xvdf (a symlink) is gone.
  const mine = await callEc2(context, 'DescribeVolumes', () =>
    ec2.findAttached(instance.instanceId, device, context.signal),
  );
  let volumeId: string;
  let action: 'already-attached' | 'attached';
  if (mine !== undefined) {
    volumeId = mine.volumeId;
    action = 'already-attached';
    log.info({ device, volumeId }, 'EBS volume is attached to this instance already');
  } else {
    volumeId = await searchAndAttach(device, name, context);
    action = 'attached';
  }
  await waitUntilAttached(volumeId, context);
  context.volumeIds.set(device, volumeId);
  const resolved = await waitForDevice(
    async () => {
      const nvme = await findNvmeDevice(volumeId, settings);
      return [hostPath, ...(twinPath === undefined ? [] : [twinPath]), ...(nvme === undefined ? [] : [nvme])];
    },
    {
      clock: context.clock,
      timeoutMs: settings.timings.deviceTimeoutMs,
      pollMs: settings.timings.devicePollMs,
      signal: context.signal,
    },
  );
  if (resolved === undefined) {
    throw new TaupageError(
      'DEVICE_NOT_FOUND',
      `device ${device} (${volumeId}) did not appear within ${seconds(settings.timings.deviceTimeoutMs)}`,
    );
  }
  await linkDevice(hostPath, resolved);
  log.info({ device, volumeId, resolvedDevice: resolved }, 'EBS volume is ready');
  return { name, volumeId, action, resolvedDevice: resolved };
}

/**
 * Searches for an available volume with the Name tag in our zone and attaches it. Several
 * matches: the lowest volume id (the original's rule), so instances racing for one name agree.
 * Losing the race (VolumeInUse between search and attach) counts as one more search.
 */
async function searchAndAttach(device: string, name: string, context: DiskContext): Promise<string> {
  const { timings } = context.settings;
  const { instance, log } = context;
  const ec2 = context.ec2;
  if (ec2 === undefined) throw new Error('no EC2 API');
  for (let search = 1; ; search++) {
    const found = await callEc2(context, 'DescribeVolumes', () =>
      ec2.findAvailable(name, instance.availabilityZone, context.signal),
    );
    const candidate = pickVolume(found);
    if (found.length > 1) {
      log.warn(
        { name, volumeIds: found.map((volume) => volume.volumeId) },
        'Several available volumes have this name; taking the lowest id',
      );
    }
    if (candidate !== undefined) {
      log.info({ device, name, volumeId: candidate.volumeId }, 'Attaching EBS volume');
      try {
        await callEc2(context, 'AttachVolume', () =>
          ec2.attach(candidate.volumeId, instance.instanceId, device, context.signal),
        );
        return candidate.volumeId;
      } catch (error) {
        if (!(isTaupageError(error) && error.code === 'VOLUME_ATTACH_FAILED' && error.retriable)) throw error;
        // A retried AttachVolume whose first try went through answers VolumeInUse: ours already.
        const ours = await callEc2(context, 'DescribeVolumes', () =>
          ec2.findAttached(instance.instanceId, device, context.signal),
        );
        if (ours?.volumeId === candidate.volumeId) return candidate.volumeId;
        log.warn(
          { err: error, volumeId: candidate.volumeId },
          'Another instance took the volume first; searching again',
        );
      }
    }
    if (search >= timings.volumeSearchAttempts) {
      throw new TaupageError(
        'VOLUME_NOT_FOUND',
        `no available EBS volume named "${name}" in ${instance.availabilityZone} after ${search} searches over ${seconds((search - 1) * timings.volumeSearchIntervalMs)}`,
      );
    }
    log.info(
      { name, search, nextInMs: timings.volumeSearchIntervalMs },
      'No available EBS volume with this name yet',
    );
    await context.clock.sleep(timings.volumeSearchIntervalMs, context.signal);
  }
}

export function pickVolume(volumes: readonly Ec2Volume[]): Ec2Volume | undefined {
  return [...volumes].sort((a, b) => (a.volumeId < b.volumeId ? -1 : a.volumeId > b.volumeId ? 1 : 0))[0];
}

async function waitUntilAttached(volumeId: string, context: DiskContext): Promise<void> {
  const { timings } = context.settings;
  const ec2 = context.ec2;
  if (ec2 === undefined) return;
  const started = context.clock.now();
  for (;;) {
    const volume = await callEc2(context, 'DescribeVolumes', () => ec2.describe(volumeId, context.signal));
    const attachment = volume.attachments.find(
      (candidate) => candidate.instanceId === context.instance.instanceId,
    );
    if (attachment?.state === 'attached') return;
    if (attachment === undefined || context.clock.now() - started >= timings.attachTimeoutMs) {
      throw new TaupageError(
        'VOLUME_ATTACH_FAILED',
        attachment === undefined
          ? `${volumeId} is not attached to ${context.instance.instanceId} (state ${volume.state})`
          : `${volumeId} did not reach "attached" within ${seconds(timings.attachTimeoutMs)} (last: ${attachment.state})`,
      );
    }
    await context.clock.sleep(timings.attachPollMs, context.signal);
  }
}
