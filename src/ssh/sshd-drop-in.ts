import { execFile } from 'node:child_process';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { firstLine, TaupageError } from '../core/errors.js';
import { readOrEmpty, writeFileAtomically } from '../audit/atomic-file.js';
import type { SshdReloader } from './sshd-reloader.js';

const run = promisify(execFile);
const SSHD_TEST_TIMEOUT_MS = 10_000;

/** taupage.yaml's ssh_ports / ssh_gateway_ports, typed by the config module. */
export interface SshdOptions {
  /** `ssh_ports`; the original default is [22]. */
  readonly ports: readonly number[];
  /** `ssh_gateway_ports`: YAML's unquoted yes/no arrives as a boolean, which the original wrote verbatim ("True"). */
  readonly gatewayPorts?: 'yes' | 'no' | 'clientspecified' | boolean | undefined;
}

export interface SshdDropInTarget {
  /** e.g. /etc/ssh/sshd_config.d; Debian's sshd_config includes `*.conf` from it first, so it wins. */
  readonly dir: string;
  /** `sshd` binary for `sshd -t`. */
  readonly sshd?: string;
  /** Main config for `sshd -t -f` (default: sshd's own default). */
  readonly mainConfig?: string | undefined;
  /** Makes the running sshd re-read its config; undefined: written and checked only. */
  readonly reload: SshdReloader | undefined;
  /**
   * Included before `PermitRootLogin no`: the disk-full fallback drops `PermitRootLogin
   * prohibit-password` there (tmpfs) while a grant through root is active (see RootLoginSwitch).
   */
  readonly runtimeDir?: string | undefined;
}

export const DROP_IN_NAME = '10-taupage.conf';

function invalid(message: string): TaupageError {
  return new TaupageError('CONFIG_INVALID', message);
}

/**
 * The drop-in, built from typed values only (never a raw string from user data), with the
 * hardened defaults: keys only, root only by key (the disk-full fallback), and VERBOSE logging
 * so each login names the key fingerprint the audit trail joins with its grant.
 */
export function renderSshdDropIn(options: SshdOptions, runtimeDir?: string): string {
  const ports = options.ports.length === 0 ? [22] : options.ports;
  for (const port of ports)
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw invalid('ssh_ports: each port must be 1..65535');
  if (new Set(ports).size !== ports.length) throw invalid('ssh_ports: a port is listed twice');
  const gateway = options.gatewayPorts;
  const gatewayValue = gateway === true ? 'yes' : gateway === false ? 'no' : gateway;
  if (gatewayValue !== undefined && !['yes', 'no', 'clientspecified'].includes(gatewayValue))
    throw invalid('ssh_gateway_ports must be yes, no or clientspecified');
  if (runtimeDir !== undefined && !/^\/[A-Za-z0-9._/-]+$/.test(runtimeDir))
    throw invalid(`sshd runtime dir must be an absolute path without spaces, not "${runtimeDir}"`);
  return [
    '# Written by taupage at boot from ssh_ports and ssh_gateway_ports; rewritten every boot.',
    ...ports.map((port) => `Port ${port}`),
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitEmptyPasswords no',
    // No root logins, like the AMI's 50-taupage.conf (the first value wins, so this file must
    // never be weaker). Only while a disk-full grant through root is active does a file in the
    // runtime dir (tmpfs, included first) say `prohibit-password`.
    ...(runtimeDir === undefined ? [] : [`Include ${runtimeDir}/*.conf`]),
    'PermitRootLogin no',
    'X11Forwarding no',
    'MaxAuthTries 3',
    'LoginGraceTime 30',
    'LogLevel VERBOSE',
    ...(gatewayValue === undefined ? [] : [`GatewayPorts ${gatewayValue}`]),
    // GatewayPorts is about reverse tunnels (PR #71 in the original); they need remote forwarding,
    // which the AMI's hardening otherwise switches off. Local forwarding stays off.
    ...(gatewayValue === 'yes' || gatewayValue === 'clientspecified' ? ['AllowTcpForwarding remote'] : []),
    '',
  ].join('\n');
}

/**
 * Installs the drop-in only if `sshd -t` accepts the result, then reloads sshd. On failure the
 * previous drop-in is put back, so a bad value never locks out the next login. Returns whether
 * anything changed (an unchanged file is not reloaded).
 */
export async function applySshdDropIn(options: SshdOptions, target: SshdDropInTarget): Promise<boolean> {
  const content = renderSshdDropIn(options, target.runtimeDir);
  await mkdir(target.dir, { recursive: true, mode: 0o755 });
  const file = join(target.dir, DROP_IN_NAME);
  const previous = await readOrEmpty(file);
  if (previous === content) return false;
  await writeFileAtomically(file, content, process.getuid?.() === 0 ? { uid: 0, gid: 0 } : undefined);
  try {
    await run(
      target.sshd ?? '/usr/sbin/sshd',
      ['-t', ...(target.mainConfig === undefined ? [] : ['-f', target.mainConfig])],
      {
        timeout: SSHD_TEST_TIMEOUT_MS,
      },
    );
  } catch (error) {
    await restore(file, previous);
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new TaupageError(
      'SSHD_CONFIG_INVALID',
      `sshd -t refused the drop-in: ${firstLine(stderr) || 'exit status non-zero'}`,
      {
        cause: error,
      },
    );
  }
  try {
    await target.reload?.reload();
  } catch (error) {
    // Not applied until sshd has it: the previous file goes back, so the next attempt (the next
    // agent start) sees a change and reloads again instead of trusting a file sshd never read.
    await restore(file, previous);
    throw error;
  }
  return true;
}

async function restore(file: string, previous: string): Promise<void> {
  if (previous === '') {
    await unlink(file).catch(() => undefined);
    return;
  }
  const temp = `${file}.restore`;
  await writeFileAtomically(temp, previous);
  await rename(temp, file);
}

/**
 * keep_instance_users: false — the EC2 key pair chosen at launch must not open the host: the
 * default cloud user's authorized_keys goes (the account stays, as in the original).
 */
export async function removeInstanceUserKeys(homes: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const home of homes) {
    const file = join(home, '.ssh', 'authorized_keys');
    try {
      await unlink(file);
      removed.push(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return removed;
}
