import { createHash } from 'node:crypto';
import { Option, type Command } from 'commander';
import { pino } from 'pino';
import { systemClock } from '../core/clock.js';
import { ExitCode } from '../core/exit-codes.js';
import { isTaupageError } from '../core/errors.js';
import { createLogger } from '../core/logger.js';
import { Redactor } from '../core/redactor.js';
import { AuditTrail, DEFAULT_AUDIT_FILE, readBootId } from '../audit/audit-trail.js';
import { createSshAccess, SSH_ACCESS_DEFAULTS, type SshAccessPaths } from '../ssh/create-ssh-access.js';
import { GrantStore } from '../ssh/grant-store.js';
import { DEFAULT_KILL_GRACE_MS } from '../ssh/ssh-access.js';
import { DEFAULT_SSHD_RUNTIME_DIR } from '../ssh/root-login-switch.js';
import { parseSshAccessRequest } from '../ssh/ssh-access-request.js';
import { type CliIo, reportError } from './output.js';

interface SshAccessOptions {
  config: string;
  grantsFile: string;
  auditFile: string;
  rootKeysFile: string;
  homeBase?: string;
  killGrace: string;
  logLevel: string;
  sshdRuntimeDir: string;
  sshdPidFile?: string;
}

/** The paths every ssh-access subcommand shares (and `taupage agent` for its expiry loop). */
export function addSshAccessOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--config <file>', 'the AMI-level granting-service file (key server URL, groups, lifetimes)')
        .env('TAUPAGE_SSH_ACCESS_CONFIG')
        .default(SSH_ACCESS_DEFAULTS.configFile),
    )
    .addOption(
      new Option('--grants-file <file>', 'state file of active grants')
        .env('TAUPAGE_SSH_GRANTS_FILE')
        .default(SSH_ACCESS_DEFAULTS.grantsFile),
    )
    .addOption(
      new Option('--audit-file <file>', 'the local hash-chained audit trail')
        .env('TAUPAGE_AUDIT_FILE')
        .default(DEFAULT_AUDIT_FILE),
    )
    .addOption(
      new Option('--root-keys-file <file>', "root's authorized_keys (tmpfs-backed): the disk-full fallback")
        .env('TAUPAGE_SSH_ROOT_KEYS_FILE')
        .default(SSH_ACCESS_DEFAULTS.rootKeysFile),
    )
    .addOption(
      new Option('--home-base <dir>', 'base directory for new homes (useradd -b)').env(
        'TAUPAGE_SSH_HOME_BASE',
      ),
    )
    .addOption(
      new Option('--kill-grace <ms>', 'TERM → KILL grace period when ending a revoked user’s processes')
        .env('TAUPAGE_SSH_KILL_GRACE_MS')
        .default(String(DEFAULT_KILL_GRACE_MS)),
    )
    .addOption(
      new Option('--log-level <level>', 'log level (logs go to stderr)')
        .env('TAUPAGE_LOG_LEVEL')
        .default('info'),
    )
    .addOption(sshdRuntimeDirOption())
    .addOption(sshdPidFileOption());
}

/** Shared with `taupage agent`: where root logins are switched on for the disk-full fallback. */
export function sshdRuntimeDirOption(): Option {
  return new Option(
    '--sshd-runtime-dir <dir|off>',
    'tmpfs dir the sshd drop-in includes: root logins are allowed there only during a disk-full grant',
  )
    .env('TAUPAGE_SSHD_RUNTIME_DIR')
    .default(DEFAULT_SSHD_RUNTIME_DIR);
}

/** Shared with `taupage agent`: reload sshd by SIGHUP to this pid instead of systemctl. */
export function sshdPidFileOption(): Option {
  return new Option(
    '--sshd-pid-file <file>',
    'reload sshd by SIGHUP to the pid in this file (default: systemctl reload ssh.service)',
  ).env('TAUPAGE_SSHD_PID_FILE');
}

export function sshAccessPaths(options: SshAccessOptions): SshAccessPaths {
  const grace = Number(options.killGrace);
  return {
    configFile: options.config,
    grantsFile: options.grantsFile,
    rootKeysFile: options.rootKeysFile,
    homeBase: options.homeBase,
    killGraceMs: Number.isFinite(grace) && grace >= 0 ? grace : DEFAULT_KILL_GRACE_MS,
    sshdRuntimeDir: options.sshdRuntimeDir === 'off' ? undefined : options.sshdRuntimeDir,
    sshdPidFile: options.sshdPidFile,
  };
}

/** The forced command even reaches as `granting-service`: one request per process. */
async function runForcedCommand(
  options: SshAccessOptions,
  io: CliIo,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  // stdout is even's channel; our JSON logs go to stderr (and from there to auth.log via sshd).
  const log = createLogger({
    level: options.logLevel,
    redactor: new Redactor(),
    destination: pino.destination({ dest: 2, sync: true }),
  });
  const clock = systemClock;
  const audit = new AuditTrail({
    file: options.auditFile,
    clock,
    bootId: await readBootId(),
    log,
    instanceId: env.TAUPAGE_INSTANCE_ID,
  });
  const command = env.SSH_ORIGINAL_COMMAND;
  let request;
  try {
    request = parseSshAccessRequest(command);
  } catch (error) {
    // Audited without the text itself (it may be 10 KB of garbage): its length and hash.
    await audit
      .record('ssh.rejected', {
        reason: isTaupageError(error) ? error.message : 'invalid request',
        length: command?.length ?? 0,
        sha256: createHash('sha256')
          .update(command ?? '')
          .digest('hex'),
      })
      .catch((auditError: unknown) => {
        log.error({ err: auditError }, 'Cannot record the rejected request');
      });
    return reportError(io, error);
  }
  try {
    const access = await createSshAccess(sshAccessPaths(options), { clock, log, audit });
    if (request.action === 'grant') {
      const result = await access.grant(request);
      const until = new Date(result.expiresAt).toISOString();
      io.stdout(
        result.target === 'root'
          ? `Disk full: granted SSH access to ${result.user} as root@ until ${until}\n`
          : `Granted SSH access to ${result.user} until ${until}\n`,
      );
    } else {
      await access.revoke(request.user, 'revoke', { remoteHost: request.remoteHost });
      io.stdout(`Revoked SSH access of ${request.user}\n`);
    }
  } catch (error) {
    // A grant that failed (key server down, bad key, foreign account) is evidence too.
    await audit
      .record('ssh.rejected', {
        action: request.action,
        user: request.user,
        code: isTaupageError(error) ? error.code : 'INTERNAL',
      })
      .catch(() => undefined);
    throw error;
  }
  return ExitCode.Ok;
}

/** One expiry round, as the agent's loop does it: the systemd timer's safety net. */
async function runExpire(options: SshAccessOptions, io: CliIo, env: NodeJS.ProcessEnv): Promise<number> {
  const log = createLogger({
    level: options.logLevel,
    redactor: new Redactor(),
    destination: pino.destination({ dest: 2, sync: true }),
  });
  const clock = systemClock;
  const audit = new AuditTrail({
    file: options.auditFile,
    clock,
    bootId: await readBootId(),
    log,
    instanceId: env.TAUPAGE_INSTANCE_ID,
  });
  const access = await createSshAccess(sshAccessPaths(options), { clock, log, audit }, true);
  const expired = await access.expireDue();
  const due = (await access.list()).filter((grant) => grant.expiresAt <= clock.now());
  for (const user of expired) io.stdout(`Expired SSH access of ${user}\n`);
  if (due.length > 0) {
    io.stderr(`taupage: error SSH_GRANT_FAILED: could not expire ${due.map((g) => g.user).join(', ')}\n`);
    return ExitCode.Failure;
  }
  return ExitCode.Ok;
}

export function registerSshAccessCommand(
  program: Command,
  io: CliIo,
  setExitCode: (code: number) => void,
  env: NodeJS.ProcessEnv = process.env,
): void {
  const sshAccess = program
    .command('ssh-access')
    .description("even's forced command: grant-ssh-access / revoke-ssh-access from SSH_ORIGINAL_COMMAND");
  addSshAccessOptions(
    sshAccess
      .command('run', { isDefault: true })
      .description('Apply the request in SSH_ORIGINAL_COMMAND (what authorized_keys command= runs)'),
  ).action(async (options: SshAccessOptions) => {
    setExitCode(await runForcedCommand(options, io, env));
  });
  addSshAccessOptions(
    sshAccess
      .command('expire')
      .description(
        'Revoke every grant whose time is up, then exit (run by taupage-ssh-expiry.timer, so grants end even when the agent is down)',
      ),
  ).action(async (options: SshAccessOptions) => {
    setExitCode(await runExpire(options, io, env));
  });
  addSshAccessOptions(sshAccess.command('list').description('List active grants and when they expire'))
    .option('--format <format>', 'text or json', 'text')
    .action(async (options: SshAccessOptions & { format: string }) => {
      const grants = await new GrantStore(options.grantsFile, systemClock).list();
      if (options.format === 'json') {
        io.stdout(`${JSON.stringify(grants.map(({ key: _key, ...grant }) => grant))}\n`);
      } else if (grants.length === 0) {
        io.stdout('No active SSH grants\n');
      } else {
        for (const grant of grants)
          io.stdout(
            `${grant.user}\tuntil ${new Date(grant.expiresAt).toISOString()}\t${grant.target === 'root' ? 'as root (disk full)' : 'own account'}${grant.remoteHost === undefined ? '' : `\tvia ${grant.remoteHost}`}\n`,
          );
      }
      setExitCode(ExitCode.Ok);
    });
  for (const command of sshAccess.commands)
    command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
}
