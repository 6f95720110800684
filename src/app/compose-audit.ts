import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { AgentAuditService, type AgentAudit } from '../audit/agent-audit.js';
import type { AuditSink } from '../audit/audit-sink.js';
import { AuditTrail, readBootId } from '../audit/audit-trail.js';
import { watchAuthLog } from '../ssh/auth-log-watcher.js';
import { createSshAccess } from '../ssh/create-ssh-access.js';
import { EXPIRY_CHECK_INTERVAL_MS, runGrantExpiry } from '../ssh/grant-expiry.js';
import type { AgentState } from '../status/agent-state.js';
import type { AuditSettings } from './settings.js';

/**
 * The audit trail and the SSH access watchers of `taupage agent` (issue 7): the local
 * hash-chained trail, its shipping to S3, the SSH grant expiry loop and the auth log watcher.
 */
export async function composeAgentAudit(
  settings: AuditSettings,
  deps: { clock: Clock; log: Logger; state: AgentState },
): Promise<AgentAudit> {
  const { clock, log, state } = deps;
  const trail = new AuditTrail({ file: settings.file, clock, bootId: await readBootId(), log });
  const tasks: Array<(signal: AbortSignal) => Promise<void>> = [];
  try {
    const access = await createSshAccess(settings.ssh, { clock, log, audit: trail }, true);
    tasks.push((signal) =>
      runGrantExpiry(access, clock, log, signal, EXPIRY_CHECK_INTERVAL_MS, (grants) => {
        state.sshGrants = grants.map((g) => ({
          user: g.user,
          expiresAt: new Date(g.expiresAt).toISOString(),
          reason: g.target === 'root' ? 'disk full: as root' : undefined,
        }));
      }),
    );
  } catch (error) {
    // A broken granting-service file must not keep the app from booting; sshd's expiry-time
    // still ends every grant, and the error is in the log and the trail.
    log.error({ err: error }, 'Cannot watch SSH grants for expiry');
    void trail
      .record('agent.error', { component: 'ssh-expiry', message: (error as Error).message })
      .catch(() => undefined);
  }
  const authLog = settings.ssh.authLog;
  if (authLog !== undefined) tasks.push((signal) => watchAuthLog(authLog, trail, clock, log, signal));
  const s3 = settings.s3;
  return new AgentAuditService({
    trail,
    shipperStateFile: settings.shipperStateFile,
    sinks: async (identity) => {
      const sinks: AuditSink[] = [];
      if (s3 !== undefined) {
        // The AWS SDK loads only when S3 shipping is on (the bundle's startup cost).
        const { AwsS3AuditSink } = await import('../audit/aws-s3-audit-sink.js');
        sinks.push(new AwsS3AuditSink({ ...s3, region: s3.region ?? identity.region }));
      }
      // TODO(lead, issue 3): a LogSinkAuditSink from instance_logs_url / logsink_username /
      // logsink_password once TaupageConfig has them (see docs/ssh-access.md, "Wiring").
      return sinks;
    },
    tasks,
    clock,
    log,
  });
}
