import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { SshGrant } from './grant-store.js';
import type { SshAccess } from './ssh-access.js';

/**
 * The longest the agent goes without reading the grant state. Grants made by the forced command
 * (another process) are seen at the latest after this; a known grant is revoked at its expiry
 * (the loop wakes up for it). The promise is "revoked within 30 s of expiry"; even's own job ran
 * every 30 s, and only while even was up.
 */
export const EXPIRY_CHECK_INTERVAL_MS = 10_000;
/** Floor between checks, so a revoke that keeps failing cannot spin the loop. */
const MIN_WAIT_MS = 250;

/** How long to sleep: until the next known expiry, but no longer than the interval. */
export function nextExpiryWait(grants: readonly SshGrant[], now: number, intervalMs: number): number {
  const next = Math.min(...grants.map((g) => g.expiresAt));
  return Math.max(MIN_WAIT_MS, Math.min(intervalMs, next - now));
}

/** The agent's loop that revokes expired grants, starting with those that expired while it was down. */
export async function runGrantExpiry(
  access: SshAccess,
  clock: Clock,
  log: Logger,
  signal: AbortSignal,
  intervalMs = EXPIRY_CHECK_INTERVAL_MS,
  onGrants?: (grants: SshGrant[]) => void,
): Promise<void> {
  const expiryLog = log.child({ component: 'ssh-expiry' });
  expiryLog.info({ intervalMs }, 'Watching SSH grants for expiry');
  while (!signal.aborted) {
    let wait = intervalMs;
    try {
      const expired = await access.expireDue();
      if (expired.length > 0) expiryLog.info({ users: expired }, 'Expired SSH grants');
      const grants = await access.list();
      onGrants?.(grants);
      wait = nextExpiryWait(grants, clock.now(), intervalMs);
    } catch (error) {
      expiryLog.error({ err: error }, 'Cannot check SSH grants for expiry');
    }
    try {
      await clock.sleep(wait, signal);
    } catch {
      return; // aborted: the agent is shutting down
    }
  }
}
