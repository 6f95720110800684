import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ALLOWED_SYSFS_PATHS } from '../config/keys/host-keys.js';
import { TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

export interface SysfsOptions {
  /** Where /sys is; tests use a temp dir. */
  readonly sysfsRoot?: string;
  readonly log: Logger;
}

/**
 * The `sysfs` key (init.d/07-update-sysfs.py): `value\n` is written to each allow-listed path at
 * every boot (sysfs does not persist). Paths off the list were dropped with a warning by the
 * config validation; they are refused here too. The file must exist (`r+`, never created): a
 * missing one or a value the kernel refuses fails the boot with HOST_TUNING_FAILED.
 */
export async function applySysfs(
  settings: ReadonlyMap<string, string>,
  options: SysfsOptions,
): Promise<void> {
  const root = options.sysfsRoot ?? '/sys';
  for (const [path, value] of settings) {
    if (!ALLOWED_SYSFS_PATHS.includes(path)) {
      throw new TaupageError(
        'HOST_TUNING_FAILED',
        `sysfs.${path}: not an allowed sysfs path (${ALLOWED_SYSFS_PATHS.join(', ')})`,
      );
    }
    const target = join(root, path.slice('/sys/'.length));
    try {
      const handle = await open(target, 'r+');
      try {
        await handle.write(`${value}\n`);
      } finally {
        await handle.close();
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      const why =
        code === 'EINVAL' ? `the kernel refused ${JSON.stringify(value)}` : `could not write ${target}`;
      throw new TaupageError('HOST_TUNING_FAILED', `sysfs.${path}: ${why} (${code})`, { cause: error });
    }
    options.log.info({ path, value }, 'Set sysfs value');
  }
}
