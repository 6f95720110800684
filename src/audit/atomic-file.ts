import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Temp file in the same directory + fsync + rename: readers (sshd, the shipper) see the old or
 * the new file, never half of one. The temp file is created O_EXCL with mode 0600, so no one can
 * pre-create it, and rename replaces a planted symlink instead of following it.
 */
export async function writeFileAtomically(
  path: string,
  content: string,
  owner?: { uid: number; gid: number },
): Promise<void> {
  const temp = join(dirname(path), `.${randomBytes(6).toString('hex')}.taupage-tmp`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
      if (owner !== undefined) await handle.chown(owner.uid, owner.gid);
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

export async function readOrEmpty(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}
