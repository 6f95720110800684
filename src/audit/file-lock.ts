import { open, stat, unlink } from 'node:fs/promises';
import type { Clock } from '../core/clock.js';

/** Writers hold the lock for milliseconds; a lock this old was left by a crashed process. */
const STALE_LOCK_MS = 30_000;
const POLL_MS = 10;
const DEFAULT_WAIT_MS = 10_000;

/**
 * A lock file created with O_EXCL. The forced command (one process per even call) and the agent
 * both append to the audit trail and update the grant state; each read-modify-write of those
 * files runs under this lock so the hash chain and the state never fork.
 */
export async function withFileLock<T>(
  path: string,
  clock: Clock,
  action: () => Promise<T>,
  waitMs = DEFAULT_WAIT_MS,
): Promise<T> {
  const lockPath = `${path}.lock`;
  const deadline = clock.now() + waitMs;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = await stat(lockPath).then(
        (s) => clock.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS) {
        await unlink(lockPath).catch(() => undefined);
        continue;
      }
      if (clock.now() > deadline)
        throw new Error(`Timed out waiting for the lock ${lockPath}`, { cause: error });
      await clock.sleep(POLL_MS);
    }
  }
  try {
    return await action();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}
