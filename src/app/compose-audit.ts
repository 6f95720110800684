import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { join, dirname } from 'node:path';
import { toTaupageError } from '../core/errors.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import { Secret } from '../core/secret.js';
import type { ConfigSecrets } from '../secrets/decrypt-config-secrets.js';
import { configureHostSsh, type HostSshSettings } from '../ssh/configure-host-ssh.js';
import { readInstanceBootTime, uploadUserDataOnce } from '../audit/user-data-upload.js';
import { AgentAuditService } from '../audit/agent-audit.js';
import type { AuditSink } from '../audit/audit-sink.js';
import { AuditTrail, readBootId } from '../audit/audit-trail.js';
import { watchAuthLog } from '../ssh/auth-log-watcher.js';
import { createSshAccess } from '../ssh/create-ssh-access.js';
import { EXPIRY_CHECK_INTERVAL_MS, runGrantExpiry } from '../ssh/grant-expiry.js';
import type { AgentState } from '../status/agent-state.js';
import type { BootHooks } from './boot.js';
import type { AuditSettings } from './settings.js';
import type { ErrorReporter } from '../status/error-reporter.js';

/**
 * The audit trail and the SSH access watchers of `taupage agent` (issue 7): the local
 * hash-chained trail, its shipping to S3, the SSH grant expiry loop and the auth log watcher.
 */
export async function composeAgentAudit(
  settings: AuditSettings,
  deps: { clock: Clock; log: Logger; state: AgentState },
): Promise<AgentAuditService> {
  const { clock, log, state } = deps;
  const trail = new AuditTrail({ file: settings.file, clock, bootId: await readBootId(), log });
  const tasks: Array<(signal: AbortSignal) => Promise<void>> = [];
  try {
    const access = await createSshAccess(settings.ssh, { clock, log, audit: trail }, true);
    tasks.push((signal) =>
      runGrantExpiry(access, clock, log, signal, EXPIRY_CHECK_INTERVAL_MS, (grants) => {
        state.sshGrantsChanged(
          grants.map((g) => ({
            user: g.user,
            expiresAt: new Date(g.expiresAt).toISOString(),
            reason: g.target === 'root' ? 'disk full: as root' : undefined,
          })),
        );
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
      // log-sink comes from the TaupageConfig, after the boot's kms step (composeBootHooks).
      return sinks;
    },
    tasks,
    clock,
    log,
  });
}

export interface BootHookDependencies {
  readonly sshd: HostSshSettings | undefined;
  readonly audit: AgentAuditService | undefined;
  readonly auditSettings: AuditSettings | undefined;
  /** Where the boot writes taupage.yaml (the USER_DATA upload reads it back). */
  readonly metaDir: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly errors: ErrorReporter;
}

/**
 * What runs inside the boot for SSH and the audit trail: right after the config step the trail
 * learns the instance (S3 shipping starts, also for a boot that fails later) and sshd is
 * configured (in the background: the boot does not wait for it); after the kms step the log-sink (whose password may be aws:kms:) is attached and
 * the masked taupage.yaml uploaded once per boot. Errors are logged, audited and shown in
 * /status; they never fail the app's boot.
 */
export function composeBootHooks(deps: BootHookDependencies): BootHooks {
  const { audit, sshd, log, errors } = deps;
  const report = (component: string, error: unknown): void => {
    log.error({ err: error, component }, `${component}: ${toTaupageError(error).message}`);
    errors.report(component, error);
  };
  return {
    afterConfig: (config, identity) => {
      audit?.identify(identity);
      if (sshd === undefined) return Promise.resolve();
      // Off the boot's critical path (writing the drop-in, `sshd -t` and a reload take tens of
      // ms): the app does not wait for sshd, and a failure is reported the same way.
      void configureHostSsh(config, sshd, log).catch((error: unknown) => {
        report('sshd', error);
      });
      return Promise.resolve();
    },
    afterSecrets: async (config, identity, secrets) => {
      if (audit === undefined || deps.auditSettings === undefined) return;
      try {
        await attachLogSink(config, identity, secrets, { ...deps, audit, auditSettings: deps.auditSettings });
      } catch (error) {
        report('log-sink', error);
      }
    },
  };
}

async function attachLogSink(
  config: TaupageConfig,
  identity: InstanceIdentity,
  secrets: ConfigSecrets,
  deps: BootHookDependencies & { audit: AgentAuditService; auditSettings: AuditSettings },
): Promise<void> {
  const url = config.instanceLogsUrl;
  if (url === undefined) return;
  const username = config.logsinkUsername === undefined ? undefined : secrets.resolve(config.logsinkUsername);
  const password = config.logsinkPassword === undefined ? undefined : secrets.resolve(config.logsinkPassword);
  if (username === undefined || password === undefined)
    throw new Error('instance_logs_url is set, but logsink_username or logsink_password is missing');
  const { LogSinkAuditSink } = await import('../audit/log-sink-audit-sink.js');
  const sink = new LogSinkAuditSink({
    url,
    username: typeof username === 'string' ? username : username.reveal(),
    password: typeof password === 'string' ? new Secret(password) : password,
    accountId: identity.accountId,
    region: identity.region,
    instanceId: identity.instanceId,
    instanceBootTime: await readInstanceBootTime(undefined, deps.clock),
  });
  const bootId = await readBootId();
  deps.audit.addSink(sink, async (signal) => {
    await uploadUserDataOnce(
      {
        metaFile: join(deps.metaDir, 'taupage.yaml'),
        markerFile: join(dirname(deps.auditSettings.shipperStateFile), 'log-sink-user-data.json'),
        bootId,
        put: (masked, abort) => sink.putUserData(masked, abort),
        clock: deps.clock,
        log: deps.log.child({ component: 'log-sink' }),
      },
      signal,
    );
  });
}
