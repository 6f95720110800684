import { open, stat } from 'node:fs/promises';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { AuditEventType } from '../audit/audit-event.js';
import type { AuditRecorder } from '../audit/audit-trail.js';

/** Logins must reach the trail in seconds (SSM's "audit at session end" is the anti-pattern). */
export const AUTH_LOG_POLL_MS = 1_000;
const MAX_READ_BYTES = 1024 * 1024;

// Only the start of sshd's own message is matched: the optional syslog prefix cannot contain
// '[' before "sshd[pid]: ", and each pattern is anchored at the end, so text an attacker puts
// in a user name ("Invalid user … from …") can never forge a login line.
const PREFIX = String.raw`^(?:[^\[]*\bsshd(?:-session)?\[\d+\]: )?`;
const PATTERNS: ReadonlyArray<{ type: AuditEventType; re: RegExp; fields: readonly string[] }> = [
  {
    type: 'ssh.login',
    re: new RegExp(
      `${PREFIX}Accepted (publickey) for ([a-z_][a-z0-9_-]{0,31}) from ([0-9a-fA-F.:]+) port (\\d+) ssh2(?:: (\\S+) (SHA256:[A-Za-z0-9+/]+))?$`,
    ),
    fields: ['method', 'user', 'from', 'port', 'keyType', 'keyFingerprint'],
  },
  {
    type: 'ssh.logout',
    re: new RegExp(`${PREFIX}Disconnected from user ([a-z_][a-z0-9_-]{0,31}) ([0-9a-fA-F.:]+) port (\\d+)$`),
    fields: ['user', 'from', 'port'],
  },
];

/** One sshd log line → an audit event, or undefined for everything else. */
export function parseAuthLogLine(
  line: string,
): { type: AuditEventType; data: Record<string, string> } | undefined {
  for (const { type, re, fields } of PATTERNS) {
    const match = re.exec(line);
    if (match === null) continue;
    const data: Record<string, string> = {};
    fields.forEach((field, i) => {
      const value = match[i + 1];
      if (value !== undefined) data[field] = value;
    });
    return { type, data };
  }
  return undefined;
}

/**
 * Tails sshd's log (auth.log, or sshd's stderr) from its current end and records each login
 * and logout. Polling, not inotify: it survives rotation (new inode or a shorter file → start
 * over at 0) and works on any filesystem.
 */
export async function watchAuthLog(
  file: string,
  audit: AuditRecorder,
  clock: Clock,
  log: Logger,
  signal: AbortSignal,
  pollMs = AUTH_LOG_POLL_MS,
): Promise<void> {
  const watchLog = log.child({ component: 'auth-log' });
  let position = await stat(file).then(
    (s) => ({ ino: s.ino, offset: s.size }),
    () => ({ ino: -1, offset: 0 }),
  );
  let partial = '';
  watchLog.info({ file }, 'Watching the SSH log for logins');
  while (!signal.aborted) {
    try {
      const current = await stat(file).catch(() => undefined);
      if (current !== undefined) {
        if (current.ino !== position.ino || current.size < position.offset) {
          position = { ino: current.ino, offset: 0 };
          partial = '';
        }
        if (current.size > position.offset) {
          const length = Math.min(current.size - position.offset, MAX_READ_BYTES);
          const handle = await open(file, 'r');
          const buffer = Buffer.alloc(length);
          try {
            await handle.read(buffer, 0, length, position.offset);
          } finally {
            await handle.close();
          }
          position = { ino: current.ino, offset: position.offset + length };
          const lines = (partial + buffer.toString('utf8')).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) {
            const event = parseAuthLogLine(line.trimEnd());
            if (event !== undefined) await audit.record(event.type, event.data);
          }
        }
      }
    } catch (error) {
      watchLog.warn({ err: error }, 'Cannot read the SSH log');
    }
    try {
      await clock.sleep(pollMs, signal);
    } catch {
      return;
    }
  }
}
