import { Option, type Command } from 'commander';
import { DEFAULTS } from '../app/settings.js';
import { DEFAULT_SHIPPER_STATE_FILE } from '../audit/audit-shipper.js';
import { DEFAULT_AUDIT_FILE } from '../audit/audit-trail.js';
import { defaultDevKeyPath } from '../secrets/local-dev-key.js';
import { SSH_ACCESS_DEFAULTS } from '../ssh/create-ssh-access.js';
import { DEFAULT_INSTANCE_USER_HOMES, DEFAULT_ROOT_KEYS_TMPFS_FILE } from '../ssh/configure-host-ssh.js';
import { mutableTagsOption } from './mutable-tags-option.js';
import { sshdPidFileOption, sshdRuntimeDirOption } from './ssh-access-command.js';
import { STATUS_ALLOW_OFFHOST_OPTION, STATUS_LISTEN_OPTION } from './status-first.js';

// Every flag of `taupage agent` and `taupage local`, in one place (each also a TAUPAGE_*
// environment variable); agent-settings.ts types their values and turns them into AgentSettings.

/** Flags of both `taupage agent` and `taupage local`. */
export function addCommonOptions(
  command: Command,
  metaDir: string,
  defaultsFile: string | undefined,
): Command {
  const defaults = new Option('--defaults <file>', 'AMI defaults file; user data keys replace its keys').env(
    'TAUPAGE_DEFAULTS_FILE',
  );
  return command
    .addOption(defaultsFile === undefined ? defaults : defaults.default(defaultsFile))
    .addOption(
      new Option('--meta-dir <dir>', 'where taupage.yaml is written; mounted read-only at /meta')
        .env('TAUPAGE_META_DIR')
        .default(metaDir),
    )
    .addOption(
      new Option(STATUS_LISTEN_OPTION.flags, STATUS_LISTEN_OPTION.description)
        .env(STATUS_LISTEN_OPTION.env)
        .default(STATUS_LISTEN_OPTION.default),
    )
    .addOption(
      new Option(STATUS_ALLOW_OFFHOST_OPTION.flags, STATUS_ALLOW_OFFHOST_OPTION.description)
        .env(STATUS_ALLOW_OFFHOST_OPTION.env)
        .default(STATUS_ALLOW_OFFHOST_OPTION.default),
    )
    .addOption(
      new Option('--metrics-listen <host:port|off>', 'Prometheus /metrics address (node_exporter names)')
        .env('TAUPAGE_METRICS_LISTEN')
        .default(DEFAULTS.metricsListen),
    )
    .addOption(
      new Option('--metrics-textfile-dir <dir>', 'merge *.prom files from here into /metrics')
        .env('TAUPAGE_METRICS_TEXTFILE_DIR')
        .default(DEFAULTS.textfileDir),
    )
    .addOption(
      new Option('--cloudwatch-interval <seconds>', 'enhanced_cloudwatch_metrics: publish every N seconds')
        .env('TAUPAGE_CLOUDWATCH_INTERVAL')
        .default(String(DEFAULTS.cloudwatchIntervalSeconds)),
    )
    .addOption(
      new Option('--cloudwatch-endpoint <url>', "CloudWatch endpoint (default: the region's)").env(
        'TAUPAGE_CLOUDWATCH_ENDPOINT',
      ),
    )
    .addOption(
      new Option('--container-name <name>', 'name of the application container')
        .env('TAUPAGE_CONTAINER_NAME')
        .default(DEFAULTS.containerName),
    )
    .addOption(
      new Option('--application-user <uid:gid>', 'user the app runs as unless root: true')
        .env('TAUPAGE_APPLICATION_USER')
        .default(DEFAULTS.applicationUser),
    )
    .addOption(
      new Option('--pull-inactivity-timeout <seconds>', 'abort a pull that shows no progress for this long')
        .env('TAUPAGE_PULL_INACTIVITY_TIMEOUT')
        .default(String(DEFAULTS.pullInactivitySeconds)),
    )
    .addOption(
      new Option(
        '--health-check-interval <seconds>',
        'after the boot, probe health_check_path (and follow the image HEALTHCHECK) every N seconds',
      )
        .env('TAUPAGE_HEALTH_CHECK_INTERVAL')
        .default(String(DEFAULTS.healthCheckIntervalSeconds)),
    )
    .addOption(
      new Option('--health-check-timeout <seconds>', 'a probe without an answer this long fails')
        .env('TAUPAGE_HEALTH_CHECK_TIMEOUT')
        .default(String(DEFAULTS.healthCheckTimeoutSeconds)),
    )
    .addOption(
      new Option(
        '--health-check-failure-threshold <n>',
        'failed probes in a row before the health check counts as failing',
      )
        .env('TAUPAGE_HEALTH_CHECK_FAILURE_THRESHOLD')
        .default(String(DEFAULTS.healthCheckFailureThreshold)),
    )
    .addOption(
      new Option(
        '--health-check-success-threshold <n>',
        'passed probes in a row before a failing health check counts as passing again',
      )
        .env('TAUPAGE_HEALTH_CHECK_SUCCESS_THRESHOLD')
        .default(String(DEFAULTS.healthCheckSuccessThreshold)),
    )
    .addOption(
      new Option(
        '--scalyr-endpoint <url>',
        'Scalyr addEvents URL, or a base URL (+ /addEvents); default: by scalyr_region (local mode ships to Scalyr only with it)',
      ).env('TAUPAGE_SCALYR_ENDPOINT'),
    )
    .addOption(
      new Option(
        '--logentries-endpoint <host:port>',
        'Logentries token input: HOST:PORT over TLS, tcp://HOST:PORT plain (default: data.logentries.com:443; local mode ships there only with it)',
      ).env('TAUPAGE_LOGENTRIES_ENDPOINT'),
    )
    .addOption(mutableTagsOption())
    .addOption(
      new Option('--log-level <level>', 'trace, debug, info, warn, error')
        .env('TAUPAGE_LOG_LEVEL')
        .default(DEFAULTS.logLevel),
    )
    .addHelpText(
      'after',
      '\nThe Docker engine is taken from DOCKER_HOST (default: the local socket).\nExit codes: see docs/errors.md (0 ok, 1 failure, 2 invalid config, 3 boot failed, 4 dependency unavailable).',
    );
}

/** `taupage agent` only: the EC2 side (IMDS, the AWS endpoints, the host). */
export function addAgentOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--imds-url <url>', 'instance metadata service')
        .env('TAUPAGE_IMDS_URL')
        .default(DEFAULTS.imdsUrl),
    )
    .addOption(
      new Option('--imds-budget <seconds>', 'how long to wait for IMDS at boot')
        .env('TAUPAGE_IMDS_BUDGET_SECONDS')
        .default(String(DEFAULTS.imdsBudgetSeconds)),
    )
    .addOption(
      new Option('--kms-endpoint <url>', "KMS endpoint (default: the region's)").env('TAUPAGE_KMS_ENDPOINT'),
    )
    .addOption(
      new Option(
        '--cloudformation-endpoint <url>',
        "CloudFormation endpoint for notify_cfn signals (default: the region's)",
      ).env('TAUPAGE_CLOUDFORMATION_ENDPOINT'),
    )
    .addOption(
      new Option('--cloudwatch-logs-endpoint <url>', "CloudWatch Logs endpoint (default: the region's)").env(
        'TAUPAGE_CLOUDWATCH_LOGS_ENDPOINT',
      ),
    )
    .addOption(
      new Option(
        '--s3-logs-endpoint <url>',
        'S3 endpoint of the logging s3 destination (tests; path-style)',
      ).env('TAUPAGE_S3_LOGS_ENDPOINT'),
    )
    .addOption(
      new Option('--log-state-dir <dir>', 'spool and checkpoints of log shipping')
        .env('TAUPAGE_LOG_STATE_DIR')
        .default('/var/lib/taupage/logs'),
    )
    .addOption(
      new Option('--ecr-endpoint <url>', "ECR endpoint (default: the region's)").env('TAUPAGE_ECR_ENDPOINT'),
    )
    .addOption(
      new Option('--elb-endpoint <url>', "Elastic Load Balancing endpoint (default: the region's)").env(
        'TAUPAGE_ELB_ENDPOINT',
      ),
    )
    .addOption(
      new Option(
        '--identity-login-registries <hosts>',
        'comma-separated registries that accept the signed instance identity as login (Pier One)',
      ).env('TAUPAGE_IDENTITY_LOGIN_REGISTRIES'),
    )
    .addOption(
      new Option(
        '--require-trusted-images',
        'pull only images whose manifest says X-Production-Ready-Taupage (or X-Trusted): true',
      ).env('TAUPAGE_REQUIRE_TRUSTED_IMAGES'),
    )
    .addOption(
      new Option(
        '--host-power <systemd|record:FILE|off>',
        'power-off (shutdown:) and host-shutdown detection: systemctl, a file that records instead (tests), or none',
      )
        .env('TAUPAGE_HOST_POWER')
        .default('systemd'),
    )
    .addOption(
      new Option(
        '--supervisor-state <file>',
        "the supervisor's memory of the container across agent restarts",
      )
        .env('TAUPAGE_SUPERVISOR_STATE')
        .default('/var/lib/taupage/container.json'),
    )
    .addOption(
      new Option(
        '--boot-marker <dir>',
        "on tmpfs: <dir>/date is when the agent first started in this host boot (the original's /run/taupage-init-ran; an agent restart leaves an exited app alone)",
      )
        .env('TAUPAGE_BOOT_MARKER')
        .default('/run/taupage-init-ran'),
    )
    .addOption(
      new Option(
        '--host-scope <all|app-only>',
        'all: act on sysctl, sysfs, nat_gateways, volumes and mounts; app-only: refuse them (tests)',
      )
        .env('TAUPAGE_HOST_SCOPE')
        .choices(['all', 'app-only'])
        .default('all'),
    )
    .addOption(
      new Option('--custom-log-dir <dir>', "host side of mount_custom_log (the container's /var/log)")
        .env('TAUPAGE_CUSTOM_LOG_DIR')
        .default('/var/log-custom'),
    )
    .addOption(
      new Option(
        '--s3-endpoint <url>',
        "S3 endpoint for mint_bucket credentials (default: the region's)",
      ).env('TAUPAGE_S3_ENDPOINT'),
    )
    .addOption(
      new Option('--ec2-endpoint <url>', "EC2 endpoint for volumes.ebs (default: the region's)").env(
        'TAUPAGE_EC2_ENDPOINT',
      ),
    )
    .addOption(
      new Option(
        '--autoscaling-endpoint <url>',
        "Auto Scaling endpoint for lifecycle_hook (default: the region's)",
      ).env('TAUPAGE_AUTOSCALING_ENDPOINT'),
    )
    .addOption(
      new Option(
        '--lifecycle-poll <seconds>',
        'how often IMDS is asked for spot/Auto Scaling termination notices',
      )
        .env('TAUPAGE_LIFECYCLE_POLL')
        .default('5'),
    );
}

/** `taupage local run` only: the config file, the dev key, the container's fate. */
export function addLocalOptions(command: Command): Command {
  return command
    .requiredOption('--config <file>', 'TaupageConfig file (bare YAML or user data)')
    .option('--region <region>', 'region the local instance pretends to be in', DEFAULTS.localRegion)
    .addOption(
      new Option('--dev-key-file <file>', 'local dev key for aws:kms: values')
        .env('TAUPAGE_LOCAL_DEV_KEY_FILE')
        .default(defaultDevKeyPath()),
    )
    .option('--keep-container', 'leave the container running on exit', false);
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
