import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { TaupageError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { AuditSettings } from '../app/settings.js';
import { DEFAULT_SHIPPER_STATE_FILE } from '../audit/audit-shipper.js';
import { DEFAULT_AUDIT_FILE } from '../audit/audit-trail.js';
import { verifyAuditChain } from '../audit/verify-audit-chain.js';
import { SSH_ACCESS_DEFAULTS } from '../ssh/create-ssh-access.js';
import { DEFAULT_KILL_GRACE_MS } from '../ssh/ssh-access.js';
import {
  DEFAULT_INSTANCE_USER_HOMES,
  DEFAULT_ROOT_KEYS_TMPFS_FILE,
  type HostSshSettings,
} from '../ssh/configure-host-ssh.js';
import { sshdPidFileOption, sshdRuntimeDirOption } from './ssh-access-command.js';
import { type CliIo, UsageError } from './output.js';

export function registerAuditCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  const audit = program.command('audit').description('Work with the hash-chained audit trail');
  audit
    .command('verify')
    .description('Check a trail (local or downloaded from S3): reports edited, deleted and reordered lines')
    .argument('<file>', 'audit trail (JSON lines)')
    .option('--allow-rotated', 'accept a trail that starts after seq 1 (a rotated file)', false)
    .option('--format <format>', 'text or json', 'text')
    .action(async (file: string, options: { allowRotated: boolean; format: string }) => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new TaupageError('CONFIG_UNREADABLE', `Cannot read ${file}`, { cause: error });
      }
      const report = verifyAuditChain(text, { allowRotated: options.allowRotated });
      if (options.format === 'json') {
        io.stdout(`${JSON.stringify(report)}\n`);
      } else if (report.ok) {
        io.stdout(
          `OK: ${report.events} events, seq ${report.firstSeq ?? '-'}..${report.lastSeq ?? '-'}, last hash ${report.lastHash ?? '-'}\n`,
        );
      } else {
        for (const problem of report.problems) io.stdout(`BROKEN ${problem.message}\n`);
      }
      if (!report.ok) {
        io.stderr(`taupage: error AUDIT_CHAIN_BROKEN: ${report.problems.length} problem(s) in ${file}\n`);
        setExitCode(ExitCode.Failure);
      } else {
        setExitCode(ExitCode.Ok);
      }
    });
  for (const command of audit.commands)
    command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
}

export interface AuditAgentOptions {
  auditFile: string;
  auditShipperState: string;
  auditS3?: string;
  auditS3Region?: string;
  auditS3Endpoint?: string;
  sshAccessConfig: string;
  sshGrantsFile: string;
  sshRootKeysFile: string;
  sshAuthLog: string;
  sshdConfigDir: string;
  sshdMainConfig?: string;
  sshdRuntimeDir: string;
  sshdPidFile?: string;
  instanceUserHomes: string;
  sshRootKeysTmpfs: string;
}

/** `taupage agent` flags for the audit trail and the SSH grant expiry (AMI-level, not user data). */
export function addAuditAgentOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--audit-file <file|off>', 'the local hash-chained audit trail')
        .env('TAUPAGE_AUDIT_FILE')
        .default(DEFAULT_AUDIT_FILE),
    )
    .addOption(
      new Option('--audit-shipper-state <file>', "the audit shipper's offsets per sink")
        .env('TAUPAGE_AUDIT_SHIPPER_STATE')
        .default(DEFAULT_SHIPPER_STATE_FILE),
    )
    .addOption(
      new Option('--audit-s3 <s3://bucket/prefix/>', 'ship the audit trail to this S3 location').env(
        'TAUPAGE_AUDIT_S3_URL',
      ),
    )
    .addOption(
      new Option('--audit-s3-region <region>', "the bucket's region (default: the instance's)").env(
        'TAUPAGE_AUDIT_S3_REGION',
      ),
    )
    .addOption(
      new Option('--audit-s3-endpoint <url>', 'S3 endpoint (tests; path-style)').env(
        'TAUPAGE_AUDIT_S3_ENDPOINT',
      ),
    )
    .addOption(
      new Option('--ssh-access-config <file>', 'the granting-service file (for the grant expiry)')
        .env('TAUPAGE_SSH_ACCESS_CONFIG')
        .default(SSH_ACCESS_DEFAULTS.configFile),
    )
    .addOption(
      new Option('--ssh-grants-file <file>', 'state file of active SSH grants')
        .env('TAUPAGE_SSH_GRANTS_FILE')
        .default(SSH_ACCESS_DEFAULTS.grantsFile),
    )
    .addOption(
      new Option('--ssh-root-keys-file <file>', "root's (tmpfs-backed) authorized_keys")
        .env('TAUPAGE_SSH_ROOT_KEYS_FILE')
        .default(SSH_ACCESS_DEFAULTS.rootKeysFile),
    )
    .addOption(
      new Option('--ssh-auth-log <file|off>', "sshd's log, watched for logins and logouts")
        .env('TAUPAGE_SSH_AUTH_LOG')
        .default('/var/log/auth.log'),
    )
    .addOption(
      new Option(
        '--sshd-config-dir <dir|off>',
        'sshd_config.d for the drop-in from ssh_ports/ssh_gateway_ports; off: sshd is not managed',
      )
        .env('TAUPAGE_SSHD_CONFIG_DIR')
        .default('/etc/ssh/sshd_config.d'),
    )
    .addOption(
      new Option('--sshd-main-config <file>', 'sshd_config to check with `sshd -t -f` (tests)').env(
        'TAUPAGE_SSHD_MAIN_CONFIG',
      ),
    )
    .addOption(sshdRuntimeDirOption())
    .addOption(sshdPidFileOption())
    .addOption(
      new Option(
        '--instance-user-homes <dirs>',
        'comma-separated homes of the default cloud users (keep_instance_users: false empties their keys)',
      )
        .env('TAUPAGE_INSTANCE_USER_HOMES')
        .default(DEFAULT_INSTANCE_USER_HOMES.join(',')),
    )
    .addOption(
      new Option(
        '--ssh-root-keys-tmpfs <file|off>',
        "tmpfs file root's authorized_keys links to (the disk-full fallback)",
      )
        .env('TAUPAGE_SSH_ROOT_KEYS_TMPFS')
        .default(DEFAULT_ROOT_KEYS_TMPFS_FILE),
    );
}

/** The host sshd flags as HostSshSettings; undefined with --sshd-config-dir off. */
export function hostSshSettings(options: AuditAgentOptions): HostSshSettings | undefined {
  if (options.sshdConfigDir === 'off') return undefined;
  return {
    configDir: resolve(options.sshdConfigDir),
    mainConfig: options.sshdMainConfig,
    pidFile: options.sshdPidFile,
    runtimeDir: options.sshdRuntimeDir === 'off' ? undefined : resolve(options.sshdRuntimeDir),
    instanceUserHomes: options.instanceUserHomes
      .split(',')
      .map((home) => home.trim())
      .filter(Boolean),
    rootKeysFile: options.sshRootKeysFile,
    rootKeysTmpfsFile: options.sshRootKeysTmpfs === 'off' ? undefined : resolve(options.sshRootKeysTmpfs),
  };
}

/** The flags as AuditSettings; undefined with --audit-file off. */
export function auditSettings(options: AuditAgentOptions): AuditSettings | undefined {
  if (options.auditFile === 'off') return undefined;
  let s3: AuditSettings['s3'];
  if (options.auditS3 !== undefined) {
    const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/?(.*)$/.exec(options.auditS3);
    if (match === null)
      throw new UsageError(`--audit-s3 expects s3://BUCKET/PREFIX/, not "${options.auditS3}"`);
    s3 = {
      bucket: match[1] ?? '',
      prefix: match[2] ?? '',
      ...(options.auditS3Region === undefined ? {} : { region: options.auditS3Region }),
      endpoint: options.auditS3Endpoint,
    };
  }
  return {
    file: resolve(options.auditFile),
    shipperStateFile: resolve(options.auditShipperState),
    s3,
    ssh: {
      configFile: options.sshAccessConfig,
      grantsFile: resolve(options.sshGrantsFile),
      rootKeysFile: options.sshRootKeysFile,
      homeBase: undefined,
      killGraceMs: DEFAULT_KILL_GRACE_MS,
      authLog: options.sshAuthLog === 'off' ? undefined : options.sshAuthLog,
      sshdRuntimeDir: options.sshdRuntimeDir === 'off' ? undefined : resolve(options.sshdRuntimeDir),
      sshdPidFile: options.sshdPidFile,
    },
  };
}
