import { readFile } from 'node:fs/promises';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { AuditRecorder } from '../audit/audit-trail.js';
import { TaupageError, isTaupageError } from '../core/errors.js';
import { readGrantingServiceConfig, type GrantingServiceConfig } from './granting-service-config.js';
import { GrantStore } from './grant-store.js';
import { fetchPublicKey } from './key-server.js';
import { LinuxUserAccounts } from './linux-user-accounts.js';
import { RootLoginSwitch } from './root-login-switch.js';
import { PidFileSshdReloader, SystemctlSshdReloader } from './sshd-reloader.js';
import { SshAccess } from './ssh-access.js';

/** Where the SSH access pieces live; each has a flag and a TAUPAGE_* variable (tests move them). */
export interface SshAccessPaths {
  readonly configFile: string;
  readonly grantsFile: string;
  readonly rootKeysFile: string;
  /** `useradd -b`; undefined = the system default (/home). */
  readonly homeBase: string | undefined;
  readonly killGraceMs: number;
  /**
   * Where the disk-full fallback allows root logins (tmpfs, included by the sshd drop-in);
   * undefined: root logins are left to the static sshd config.
   */
  readonly sshdRuntimeDir?: string | undefined;
  /** Reload sshd by SIGHUP to the pid in this file instead of `systemctl`. */
  readonly sshdPidFile?: string | undefined;
}

export const SSH_ACCESS_DEFAULTS = {
  configFile: '/etc/ssh-access-granting-service.yaml',
  grantsFile: '/var/lib/taupage/ssh-grants.json',
  rootKeysFile: '/root/.ssh/authorized_keys',
} as const;

/**
 * Builds SshAccess from the AMI's granting-service file and the real host adapters. The agent
 * only expires grants, so for it (`forExpiryOnly`) a missing file is fine: there is then simply
 * nothing to grant.
 */
export async function createSshAccess(
  paths: SshAccessPaths,
  deps: { clock: Clock; log: Logger; audit: AuditRecorder },
  forExpiryOnly = false,
): Promise<SshAccess> {
  let config: GrantingServiceConfig | undefined;
  try {
    config = await readGrantingServiceConfig(paths.configFile);
  } catch (error) {
    if (!forExpiryOnly || !isTaupageError(error) || error.code !== 'CONFIG_UNREADABLE') throw error;
  }
  if (config === undefined) {
    return new SshAccess({
      ...common(paths, deps),
      fetchKey: () =>
        Promise.reject(new TaupageError('SSH_KEY_UNAVAILABLE', 'No granting service is configured')),
      userGroups: [],
      defaultLifetimeMinutes: 60,
      maxLifetimeMinutes: 60,
    });
  }
  const { url } = config;
  const ca = config.caFile === undefined ? undefined : await readFile(config.caFile, 'utf8');
  return new SshAccess({
    ...common(paths, deps),
    fetchKey: (user, signal) => fetchPublicKey({ baseUrl: url, ca }, user, signal),
    userGroups: config.userGroups,
    defaultLifetimeMinutes: config.defaultLifetimeMinutes,
    maxLifetimeMinutes: config.maxLifetimeMinutes,
  });
}

function common(paths: SshAccessPaths, deps: { clock: Clock; log: Logger; audit: AuditRecorder }) {
  return {
    accounts: new LinuxUserAccounts({ homeBase: paths.homeBase }),
    grants: new GrantStore(paths.grantsFile, deps.clock),
    audit: deps.audit,
    clock: deps.clock,
    log: deps.log,
    rootKeysFile: paths.rootKeysFile,
    killGraceMs: paths.killGraceMs,
    rootLogin:
      paths.sshdRuntimeDir === undefined
        ? undefined
        : new RootLoginSwitch(
            paths.sshdRuntimeDir,
            paths.sshdPidFile === undefined
              ? new SystemctlSshdReloader()
              : new PidFileSshdReloader(paths.sshdPidFile),
          ),
  };
}
