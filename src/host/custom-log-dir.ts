import { chmod, chown, mkdir } from 'node:fs/promises';
import { TaupageError } from '../core/errors.js';

/** The original's 00-create-custom-log-dir.sh: the host side of `mount_custom_log` (`/var/log` in the container). */
export const CUSTOM_LOG_DIR = '/var/log-custom';

/**
 * Creates the custom log directory owned by the app user, at every boot (idempotent). Unlike the
 * original's `chown -R`, only the directory itself is chowned: files the app wrote keep theirs,
 * and a symlink planted inside cannot redirect a recursive chown.
 */
export async function ensureCustomLogDir(
  owner: { readonly uid: number; readonly gid: number },
  path = CUSTOM_LOG_DIR,
): Promise<void> {
  try {
    await mkdir(path, { recursive: true, mode: 0o755 });
    await chown(path, owner.uid, owner.gid);
    await chmod(path, 0o755);
  } catch (error) {
    throw new TaupageError(
      'HOST_TUNING_FAILED',
      `Could not create ${path} for the app's logs (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: error },
    );
  }
}
