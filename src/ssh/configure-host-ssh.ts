import { lstat, mkdir, open, readFile, readlink, rename, symlink, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../core/logger.js';
import { applySshdDropIn, removeInstanceUserKeys, type SshdOptions } from './sshd-drop-in.js';
import { PidFileSshdReloader, SystemctlSshdReloader } from './sshd-reloader.js';

/** AMI-level: where the host's sshd lives and which users the launch key pair belongs to. */
export interface HostSshSettings {
  /** sshd_config.d, where the drop-in goes. */
  readonly configDir: string;
  /** Main config for `sshd -t -f` (tests); undefined: sshd's default. */
  readonly mainConfig: string | undefined;
  /** Reload by SIGHUP to this pid (tests, hosts without systemd); undefined: systemctl. */
  readonly pidFile: string | undefined;
  /** The tmpfs dir the drop-in includes for the disk-full root fallback; undefined: no include. */
  readonly runtimeDir: string | undefined;
  /** Homes of the default cloud users (`keep_instance_users: false` removes their keys). */
  readonly instanceUserHomes: readonly string[];
  /** root's authorized_keys: made a symlink to `rootKeysTmpfsFile` (undefined: left alone). */
  readonly rootKeysFile: string;
  readonly rootKeysTmpfsFile: string | undefined;
}

/** The TaupageConfig keys this acts on. */
export interface HostSshConfig {
  readonly sshPorts: readonly number[];
  readonly sshGatewayPorts: SshdOptions['gatewayPorts'];
  readonly keepInstanceUsers: boolean;
}

export interface HostSshReport {
  readonly dropInChanged: boolean;
  readonly removedKeys: readonly string[];
  readonly rootKeysLinked: boolean;
}

export const DEFAULT_INSTANCE_USER_HOMES = ['/home/admin', '/home/ubuntu', '/home/ec2-user'] as const;
export const DEFAULT_ROOT_KEYS_TMPFS_FILE = '/run/taupage-ssh/root/authorized_keys';

/**
 * The boot-time SSH setup of the original (§3.3: configure-ssh, 04-remove-users,
 * 00-create-ssh-granting-tmpfs), idempotent: the launch key pair's logins go unless
 * `keep_instance_users`, root's keys move to tmpfs (the disk-full fallback), and the sshd
 * drop-in carries `ssh_ports`/`ssh_gateway_ports`, checked by `sshd -t`, then sshd is reloaded.
 * Every step runs even when an earlier one failed (removing keys must not wait for sshd); the
 * first error is thrown at the end.
 */
export async function configureHostSsh(
  config: HostSshConfig,
  settings: HostSshSettings,
  log: Logger,
): Promise<HostSshReport> {
  const sshLog = log.child({ component: 'sshd' });
  const errors: unknown[] = [];
  const step = async <T>(what: string, fallback: T, action: () => Promise<T>): Promise<T> => {
    try {
      return await action();
    } catch (error) {
      sshLog.error({ err: error }, `Failed to ${what}`);
      errors.push(error);
      return fallback;
    }
  };
  const removedKeys = config.keepInstanceUsers
    ? []
    : await step('remove the launch key pair logins', [] as string[], () =>
        removeInstanceUserKeys(settings.instanceUserHomes),
      );
  if (removedKeys.length > 0) sshLog.info({ files: removedKeys }, 'Removed the launch key pair logins');
  const tmpfsFile = settings.rootKeysTmpfsFile;
  const rootKeysLinked =
    tmpfsFile === undefined
      ? false
      : await step("move root's authorized_keys to tmpfs", false, () =>
          linkRootKeysToTmpfs(settings.rootKeysFile, tmpfsFile),
        );
  const dropInChanged = await step('configure sshd', false, () =>
    applySshdDropIn(
      { ports: config.sshPorts, gatewayPorts: config.sshGatewayPorts },
      {
        dir: settings.configDir,
        mainConfig: settings.mainConfig,
        runtimeDir: settings.runtimeDir,
        reload:
          settings.pidFile === undefined
            ? new SystemctlSshdReloader()
            : new PidFileSshdReloader(settings.pidFile),
      },
    ),
  );
  if (dropInChanged)
    sshLog.info(
      { ports: config.sshPorts, gatewayPorts: config.sshGatewayPorts ?? null },
      'Configured and reloaded sshd',
    );
  if (errors.length > 0) throw errors[0];
  return { dropInChanged, removedKeys, rootKeysLinked };
}

/**
 * root's authorized_keys becomes a symlink to a file in tmpfs, so a grant can be written there
 * when the disk is full. Lines already in a regular file are kept (moved over). Returns whether
 * anything changed.
 */
export async function linkRootKeysToTmpfs(rootKeysFile: string, tmpfsFile: string): Promise<boolean> {
  await mkdir(dirname(tmpfsFile), { recursive: true, mode: 0o700 });
  // The target exists after every reboot (tmpfs starts empty), so the link never dangles.
  const handle = await open(tmpfsFile, 'a', 0o600);
  await handle.close();
  const current = await lstat(rootKeysFile).catch(() => undefined);
  if (current?.isSymbolicLink() === true && (await readlink(rootKeysFile)) === tmpfsFile) return false;
  if (current?.isFile() === true) {
    const existing = await readFile(rootKeysFile, 'utf8');
    if (existing.trim() !== '') {
      const target = await open(tmpfsFile, 'a', 0o600);
      try {
        await target.appendFile(existing.endsWith('\n') ? existing : `${existing}\n`);
      } finally {
        await target.close();
      }
    }
  }
  await mkdir(dirname(rootKeysFile), { recursive: true, mode: 0o700 });
  const temp = join(dirname(rootKeysFile), `.${randomBytes(6).toString('hex')}.taupage-link`);
  await symlink(tmpfsFile, temp);
  try {
    await rename(temp, rootKeysFile);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  return true;
}
