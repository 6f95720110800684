import { chmod, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TaupageError } from '../../core/errors.js';
import type { MountOptions } from '../../config/taupage-config.js';
import {
  exists,
  findNvmeDevice,
  hostDevicePath,
  isEbsDeviceName,
  linkDevice,
  twinDevice,
  waitForDevice,
} from './block-devices.js';
import { atKey, callEc2, seconds, type DiskContext } from './disk-context.js';
import type { Ec2Volume } from './ec2-volumes.js';
import { growsMounted, normaliseMountOptions, sameFilesystemFamily } from './filesystem-commands.js';
import type { FilesystemCheck } from './filesystems.js';

/** The original's one-time erase marker on an EBS volume (PR #356); deleted once acted on. */
export const ERASE_ON_BOOT_TAG = 'Taupage:erase-on-boot';
/** The value the original matched: Python's `str(True)`. */
export const ERASE_ON_BOOT_TAG_VALUE = 'True';
/** The original's mode of every mount point, so any container user can write there. */
const MOUNT_POINT_MODE = 0o777;

export interface MountReport {
  /** Path in the container (the config key). */
  readonly path: string;
  /** `/mounts<path>` on the host. */
  readonly hostPath: string;
  /**
   * mounted: mounted now; already-mounted: something is mounted there (a restart), left alone;
   * directory: no partition, only the host directory for the bind mount.
   */
  readonly action: 'mounted' | 'already-mounted' | 'directory';
  readonly device: string | undefined;
  readonly filesystem: string;
  /** Why it was formatted: `erase_on_boot: true`, the erase-on-boot tag, or a blank device. */
  readonly formatted: 'erase_on_boot' | 'erase-on-boot tag' | 'blank device' | undefined;
  readonly check: FilesystemCheck | undefined;
  /** Grown to the device size after mounting (existing filesystems only). */
  readonly grown: boolean | undefined;
  readonly durationMs: number;
}

/** `mounts`, in config order, after volumes and RAID. */
export async function prepareMounts(
  mounts: readonly MountOptions[],
  context: DiskContext,
): Promise<MountReport[]> {
  const reports: MountReport[] = [];
  for (const mount of mounts) {
    const started = context.clock.now();
    try {
      const report = await prepareMount(mount, context);
      reports.push({ ...report, durationMs: context.clock.now() - started });
    } catch (error) {
      throw atKey(`mounts.${mount.path}`, error);
    }
  }
  return reports;
}

type Outcome = Omit<MountReport, 'durationMs'>;

async function prepareMount(mount: MountOptions, context: DiskContext): Promise<Outcome> {
  const { filesystems, signal, log, settings } = context;
  const hostPath = join(settings.mountRoot, mount.path);
  const base = { path: mount.path, hostPath, filesystem: mount.filesystem, device: mount.partition };
  const none = { formatted: undefined, check: undefined, grown: undefined };

  const mounted = await filesystems.mountedSource(hostPath, signal);
  if (mounted !== undefined) {
    log.info({ path: mount.path, hostPath, source: mounted }, 'Already mounted; leaving it alone');
    return { ...base, ...none, action: 'already-mounted', device: mounted };
  }
  const created = await makeMountPoint(hostPath);

  if (mount.filesystem === 'tmpfs') {
    await filesystems.mount('tmpfs', hostPath, 'tmpfs', normaliseMountOptions(mount.options), signal);
    await setOwnerAndMode(hostPath, true, context);
    log.info({ path: mount.path, hostPath, options: mount.options }, 'Mounted tmpfs');
    return { ...base, ...none, action: 'mounted', device: undefined };
  }
  if (mount.partition === undefined) {
    await setOwnerAndMode(hostPath, created, context);
    return { ...base, ...none, action: 'directory' };
  }

  const partition = mount.partition;
  const attached = await attachedVolume(partition, mount.eraseOnBoot, context);
  const device = await mountDevice(partition, attached?.volumeId, context);

  let formatted: MountReport['formatted'];
  if (mount.eraseOnBoot === true) formatted = 'erase_on_boot';
  else if (
    mount.eraseOnBoot === undefined &&
    attached?.tags.get(ERASE_ON_BOOT_TAG) === ERASE_ON_BOOT_TAG_VALUE
  ) {
    formatted = 'erase-on-boot tag';
    // Deleted before formatting, as the original did: should the format then fail, the next boot
    // finds a blank device and formats it anyway, while a tag left behind would erase data later.
    const ec2 = context.ec2;
    const volumeId = attached.volumeId;
    if (ec2 !== undefined) {
      await callEc2(context, 'DeleteTags', () =>
        ec2.deleteTag(volumeId, ERASE_ON_BOOT_TAG, ERASE_ON_BOOT_TAG_VALUE, signal),
      );
    }
  }
  const signature = await filesystems.probe(device, signal);
  // A device without any signature holds nothing to lose, whatever erase_on_boot says.
  if (formatted === undefined && signature === undefined) formatted = 'blank device';

  let check: FilesystemCheck | undefined;
  let filesystem = mount.filesystem;
  if (formatted !== undefined) {
    log.info({ path: mount.path, device: partition, filesystem, reason: formatted }, 'Formatting');
    await filesystems.format(
      device,
      filesystem,
      context.root ? undefined : settings.applicationOwner,
      signal,
    );
  } else if (signature !== undefined) {
    if (!sameFilesystemFamily(signature.type, mount.filesystem)) {
      throw new TaupageError(
        'FILESYSTEM_CHECK_FAILED',
        `device ${partition} holds ${signature.type} (${signature.usage}), expected ${mount.filesystem}; set erase_on_boot: true to reformat it`,
      );
    }
    filesystem = signature.type;
    check = await filesystems.check(device, filesystem, signal);
    if (check.status === 'skipped')
      log.warn({ device: partition, filesystem }, 'No filesystem check for this filesystem');
    else log.info({ device: partition, filesystem, check: check.detail }, 'Checked filesystem');
  }
  let grown: boolean | undefined;
  const grow = async (): Promise<void> => {
    try {
      grown = await filesystems.grow(device, hostPath, filesystem, signal);
    } catch (error) {
      // The original only warned: the data is there, just not the extra space.
      log.warn({ err: error, device: partition }, 'Could not grow the filesystem to the device size');
      grown = false;
    }
  };
  if (formatted === undefined && !growsMounted(filesystem)) await grow();
  await filesystems.mount(device, hostPath, filesystem, normaliseMountOptions(mount.options), signal);
  if (formatted === undefined && growsMounted(filesystem)) await grow();
  await setOwnerAndMode(hostPath, formatted !== undefined, context);
  log.info({ path: mount.path, hostPath, device: partition, filesystem, formatted, grown }, 'Mounted');
  return { ...base, action: 'mounted', formatted, check, grown };
}

/**
 * The volume EC2 has attached to us under this device name: its tags decide the one-time erase
 * (only asked when `erase_on_boot` is absent, unlike the original, which asked for every entry
 * and so needed ec2:DescribeVolumes even for tmpfs), and its id finds the NVMe namespace.
 */
async function attachedVolume(
  partition: string,
  eraseOnBoot: boolean | undefined,
  context: DiskContext,
): Promise<Ec2Volume | undefined> {
  const ec2 = context.ec2;
  if (ec2 === undefined || !isEbsDeviceName(partition)) return undefined;
  const known = context.volumeIds.get(partition);
  if (eraseOnBoot !== undefined) {
    // Only the NVMe lookup could need it, and only when neither name exists.
    const path = hostDevicePath(partition, context.settings.devDir);
    const twin = twinDevice(partition);
    if (
      known !== undefined ||
      (await exists(path)) ||
      (twin !== undefined && (await exists(hostDevicePath(twin, context.settings.devDir))))
    )
      return undefined;
  }
  return callEc2(context, 'DescribeVolumes', () =>
    ec2.findAttached(context.instance.instanceId, partition, context.signal),
  );
}

async function mountDevice(
  partition: string,
  volumeId: string | undefined,
  context: DiskContext,
): Promise<string> {
  const { settings } = context;
  const path = hostDevicePath(partition, settings.devDir);
  const twin = twinDevice(partition);
  const twinPath = twin === undefined ? undefined : hostDevicePath(twin, settings.devDir);
  const id = volumeId ?? context.volumeIds.get(partition);
  const found = await waitForDevice(
    async () => {
      const nvme = id === undefined ? undefined : await findNvmeDevice(id, settings);
      return [path, ...(twinPath === undefined ? [] : [twinPath]), ...(nvme === undefined ? [] : [nvme])];
    },
    {
      clock: context.clock,
      timeoutMs: settings.timings.deviceTimeoutMs,
      pollMs: settings.timings.devicePollMs,
      signal: context.signal,
    },
  );
  if (found === undefined) {
    throw new TaupageError(
      'DEVICE_NOT_FOUND',
      `device ${partition} did not appear within ${seconds(settings.timings.deviceTimeoutMs)}`,
    );
  }
  if (found !== path) await linkDevice(path, found);
  return path;
}

async function makeMountPoint(hostPath: string): Promise<boolean> {
  try {
    const first = await mkdir(hostPath, { recursive: true });
    return first !== undefined;
  } catch (error) {
    throw new TaupageError('MOUNT_FAILED', `cannot create the mount point ${hostPath}`, { cause: error });
  }
}

/** New filesystems and directories belong to `application` (unless `root: true`); all get 0777. */
async function setOwnerAndMode(hostPath: string, fresh: boolean, context: DiskContext): Promise<void> {
  try {
    if (fresh && !context.root) {
      await chown(hostPath, context.settings.applicationOwner.uid, context.settings.applicationOwner.gid);
    }
    await chmod(hostPath, MOUNT_POINT_MODE);
  } catch (error) {
    throw new TaupageError('MOUNT_FAILED', `cannot set owner and mode of ${hostPath}`, { cause: error });
  }
}
