import { access, constants, mkdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomically } from '../audit/atomic-file.js';
import { TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { lastLine, runCommand, type CommandResult, type RunOptions } from './disks/run-command.js';

/** The original's drop-in (init.d/06-update-sysctl.py); /etc persists, so it is rewritten every boot. */
export const SYSCTL_DROP_IN = '/etc/sysctl.d/99-custom.conf';
const SYSCTL_TIMEOUT_MS = 10_000;

/** Runs a tool with an argv array; tests run it inside another network namespace (nsenter). */
export type CommandRunner = (
  file: string,
  args: readonly string[],
  options: RunOptions,
) => Promise<CommandResult>;

export interface SysctlOptions {
  /** Where kernel parameters are looked up; /proc/sys. */
  readonly procSysRoot?: string;
  readonly dropInPath?: string;
  readonly run?: CommandRunner;
  readonly log: Logger;
}

/**
 * sysctl(8)'s naming: `a.b.c` is the file a/b/c under /proc/sys; a name with a `/` is already a
 * path (so dots stay, as in `net/ipv4/conf/eth0.100/forwarding`).
 */
export function sysctlPath(name: string, procSysRoot = '/proc/sys'): string {
  return join(procSysRoot, name.includes('/') ? name : name.replaceAll('.', '/'));
}

/** The drop-in's text: one `name = value` line per key, in config order. */
export function renderSysctlDropIn(settings: ReadonlyMap<string, string>): string {
  const lines = [...settings].map(([name, value]) => `${name} = ${value}`);
  return `# Written by taupage from the TaupageConfig key sysctl at every boot; edits are lost.\n${lines.join('\n')}\n`;
}

/**
 * Every name must be a file under /proc/sys (a kernel parameter of *this* kernel) before anything
 * is written: one-line SYSCTL_INVALID naming the first unknown key otherwise.
 */
export async function validateSysctlNames(
  settings: ReadonlyMap<string, string>,
  procSysRoot = '/proc/sys',
): Promise<void> {
  for (const name of settings.keys()) {
    if (name.split(/[./]/).some((part) => part === '' || part === '..')) {
      throw new TaupageError('SYSCTL_INVALID', `sysctl.${name}: not a kernel parameter name`);
    }
    const path = sysctlPath(name, procSysRoot);
    try {
      await access(path, constants.F_OK);
    } catch {
      throw new TaupageError('SYSCTL_INVALID', `sysctl.${name}: no such kernel parameter (${path})`);
    }
  }
}

/**
 * The `sysctl` key: validate every name, write the drop-in atomically, apply it with
 * `sysctl -p <drop-in>`. The kernel refusing a value fails the boot like the original (SYSCTL_INVALID,
 * naming the key sysctl reported). An empty map removes a drop-in left by an earlier config.
 */
export async function applySysctl(
  settings: ReadonlyMap<string, string>,
  options: SysctlOptions,
  signal: AbortSignal,
): Promise<void> {
  const dropIn = options.dropInPath ?? SYSCTL_DROP_IN;
  if (settings.size === 0) {
    await unlink(dropIn).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    });
    return;
  }
  await validateSysctlNames(settings, options.procSysRoot);
  try {
    await mkdir(dirname(dropIn), { recursive: true });
    await writeFileAtomically(dropIn, renderSysctlDropIn(settings));
  } catch (error) {
    throw new TaupageError(
      'HOST_TUNING_FAILED',
      `Could not write ${dropIn} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      {
        cause: error,
      },
    );
  }
  const run = options.run ?? runCommand;
  let result: CommandResult;
  try {
    result = await run('sysctl', ['-p', dropIn], { signal, timeoutMs: SYSCTL_TIMEOUT_MS });
  } catch (error) {
    throw new TaupageError('HOST_TUNING_FAILED', `sysctl -p ${dropIn} could not run`, { cause: error });
  }
  if (result.exitCode !== 0) {
    // procps: `sysctl: setting key "net.core.somaxconn": Invalid argument`.
    const refused = /setting key "([^"]+)"(?:, ignoring)?: (.+)$/m.exec(result.stderr);
    const message =
      refused === null
        ? `sysctl: sysctl -p ${dropIn} failed (exit ${result.exitCode}): ${lastLine(result.stderr)}`
        : `sysctl.${refused[1] ?? ''}: the kernel refused ${JSON.stringify(settings.get(refused[1] ?? '') ?? '')} (${(refused[2] ?? '').trim()})`;
    throw new TaupageError('SYSCTL_INVALID', message);
  }
  options.log.info({ dropIn, keys: [...settings.keys()] }, 'Applied sysctl settings');
}
