import { access, mkdir, open, readdir, readFile, realpath, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Clock } from '../../core/clock.js';

/** Where the kernel's devices show up; tests point these at temp dirs with loop-device links. */
export interface DevicePaths {
  /** /dev: config device names (`/dev/xvdf`) are looked up below it. */
  readonly devDir: string;
  /** /sys/block: an EBS NVMe namespace's `device/serial` is its volume id without the dash. */
  readonly sysBlockDir: string;
  /** /dev/disk/by-id: udev's `nvme-Amazon_Elastic_Block_Store_vol…` links, where udev runs. */
  readonly byIdDir: string;
}

/** `/dev/xvdf` → `<devDir>/xvdf` (identical with the real /dev). */
export function hostDevicePath(device: string, devDir: string): string {
  if (devDir === '/dev' || !device.startsWith('/dev/')) return device;
  return join(devDir, device.slice('/dev/'.length));
}

/**
 * The other name of an EBS device: Xen instances show `/dev/sdf` as `/dev/xvdf` (and some AMIs
 * the other way round), so either name counts as "this device is there".
 */
export function twinDevice(device: string): string | undefined {
  const match = /^\/dev\/(sd|xvd)([a-z]{1,2}\d*)$/.exec(device);
  if (match === null) return undefined;
  return `/dev/${match[1] === 'sd' ? 'xvd' : 'sd'}${match[2] ?? ''}`;
}

/** Device names EC2 attaches under: only these can be looked up by attachment. */
export const isEbsDeviceName = (device: string): boolean => /^\/dev\/(sd|xvd)[a-z]{1,2}\d*$/.test(device);

/** EBS on Nitro exposes the volume id as the NVMe serial number, without the dash. */
export const nvmeSerial = (volumeId: string): string => volumeId.replace(/-/g, '');

/**
 * The NVMe namespace of an EBS volume: udev's by-id link where udev runs, else a scan of
 * /sys/block/nvme*n* serials (early boot, containers, AMIs without the EBS udev rules).
 */
export async function findNvmeDevice(volumeId: string, paths: DevicePaths): Promise<string | undefined> {
  const serial = nvmeSerial(volumeId);
  const link = join(paths.byIdDir, `nvme-Amazon_Elastic_Block_Store_${serial}`);
  if (await exists(link)) return realpath(link).catch(() => link);
  const names = await readdir(paths.sysBlockDir).catch(() => [] as string[]);
  for (const name of names.filter((entry) => /^nvme\d+n\d+$/.test(entry)).sort()) {
    const found = await readFile(join(paths.sysBlockDir, name, 'device', 'serial'), 'utf8').catch(() => '');
    if (found.trim() === serial) return join(paths.devDir, name);
  }
  return undefined;
}

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The original's test: the node exists and can be opened for reading (not just created). */
export async function isReadableDevice(path: string): Promise<boolean> {
  try {
    const handle = await open(path, 'r');
    await handle.close();
    return true;
  } catch {
    return false;
  }
}

export interface WaitOptions {
  readonly clock: Clock;
  readonly timeoutMs: number;
  readonly pollMs: number;
  readonly signal: AbortSignal;
}

/** Polls the candidate paths (recomputed each round) until one opens; undefined on timeout. */
export async function waitForDevice(
  candidates: () => Promise<readonly string[]>,
  options: WaitOptions,
): Promise<string | undefined> {
  const start = options.clock.now();
  for (;;) {
    for (const path of await candidates()) {
      if (await isReadableDevice(path)) return path;
    }
    if (options.clock.now() - start >= options.timeoutMs) return undefined;
    await options.clock.sleep(options.pollMs, options.signal);
  }
}

/**
 * Makes the configured name point at the device the kernel created (NVMe `nvme1n1`, or the
 * Xen twin), as the original's udev rule did, so `mounts` and `raid` can use the config name.
 */
export async function linkDevice(configured: string, actual: string): Promise<void> {
  if (configured === actual || (await exists(configured))) return;
  await mkdir(dirname(configured), { recursive: true });
  await symlink(actual, configured);
}
