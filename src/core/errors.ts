import { ExitCode, TERMINAL_EXIT_CODES } from './exit-codes.js';

/**
 * Every error the agent reports has a stable code. Adapters map library and AWS errors to these
 * codes (by error name or HTTP status, never by message text); everything above the adapters
 * branches on `code` and `retriable` only. The table is rendered in docs/errors.md.
 */
export const ERROR_CODES = {
  USAGE: { exitCode: ExitCode.Usage, retriable: false, meaning: 'Wrong command-line usage.' },
  INTERNAL: { exitCode: ExitCode.Failure, retriable: false, meaning: 'A bug or an unexpected failure.' },
  CONFIG_UNREADABLE: {
    exitCode: ExitCode.Failure,
    retriable: false,
    meaning: 'A configuration file could not be read (missing, no permission).',
  },
  USER_DATA_NOT_FOUND: {
    exitCode: ExitCode.InvalidConfig,
    retriable: false,
    meaning: 'The instance has no user data (IMDS answered 404).',
  },
  USER_DATA_INVALID: {
    exitCode: ExitCode.InvalidConfig,
    retriable: false,
    meaning: 'User data is not a TaupageConfig: malformed YAML, broken gzip, or another user-data type.',
  },
  CONFIG_INVALID: {
    exitCode: ExitCode.InvalidConfig,
    retriable: false,
    meaning: 'The TaupageConfig failed validation; each error names its key path.',
  },
  IMDS_UNAVAILABLE: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning: 'The instance metadata service did not answer within the boot budget.',
  },
  IMDS_FORBIDDEN: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'The instance metadata service refused access (403: disabled, or hop limit).',
  },
  SECRET_ACCESS_DENIED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'KMS refused to decrypt a value (the instance role lacks kms:Decrypt).',
  },
  SECRET_INVALID: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'An aws:kms: value is not a valid ciphertext for this account, key or context.',
  },
  SECRET_KEY_DISABLED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'The KMS key of an aws:kms: value is disabled, pending deletion or not found.',
  },
  SECRET_UNAVAILABLE: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning: 'KMS stayed throttled or unavailable past the retry budget.',
  },
  IMAGE_NOT_FOUND: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'The registry does not have the image or tag in `source`.',
  },
  REGISTRY_AUTH_FAILED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'The registry rejected the credentials (or their absence).',
  },
  IMAGE_PULL_FAILED: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning: 'Pulling the image failed for a transient reason (registry 5xx, network) past the retry budget.',
  },
  IMAGE_PULL_STALLED: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning: 'A pull made no progress within the inactivity timeout.',
  },
  DOCKER_UNAVAILABLE: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning: 'The Docker engine did not answer.',
  },
  DOCKER_SERVER_ERROR: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning:
      'The Docker engine failed a create or start with an engine error (HTTP 5xx), past the retry budget.',
  },
  CONTAINER_FAILED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'Docker refused to create or start the application container.',
  },
  HEALTH_CHECK_TIMEOUT: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'The application did not answer its health check with HTTP 200 in time.',
  },
  CONTAINER_UNHEALTHY: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: "The image's own Docker HEALTHCHECK reported the container unhealthy during the boot.",
  },
  IMAGE_UNTRUSTED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning:
      'The registry does not mark the image as trusted for production (the AMI trust policy); the reason is shown.',
  },
  LOAD_BALANCER_TIMEOUT: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'The load balancer (healthcheck: elb/alb) did not route to the instance in time.',
  },
  LOAD_BALANCER_UNAVAILABLE: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'The load balancer API refused the health query (access denied, no such load balancer).',
  },
  CFN_SIGNAL_FAILED: {
    exitCode: ExitCode.Failure,
    retriable: false,
    meaning: 'CloudFormation refused or never took the boot signal (SignalResource); the boot result stands.',
  },
  SSH_REQUEST_INVALID: {
    exitCode: ExitCode.Usage,
    retriable: false,
    meaning:
      'An ssh-access request (SSH_ORIGINAL_COMMAND) is malformed: unknown action, bad user or host name.',
  },
  SSH_KEY_UNAVAILABLE: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning: 'The SSH access granting service did not return the public key (timeout, network, non-200).',
  },
  SSH_KEY_INVALID: {
    exitCode: ExitCode.Failure,
    retriable: false,
    meaning: 'The public key from the granting service is not one plain OpenSSH public key line.',
  },
  SSH_GRANT_FAILED: {
    exitCode: ExitCode.Failure,
    retriable: false,
    meaning: 'A grant or revoke could not be applied (user creation, authorized_keys, grant state).',
  },
  SSHD_CONFIG_INVALID: {
    exitCode: ExitCode.InvalidConfig,
    retriable: false,
    meaning: 'The generated sshd drop-in failed `sshd -t`; the running sshd keeps its old configuration.',
  },
  SSHD_RELOAD_FAILED: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning: 'sshd could not be told to re-read its configuration (systemctl reload, or SIGHUP to its pid).',
  },
  AUDIT_CHAIN_BROKEN: {
    exitCode: ExitCode.Failure,
    retriable: false,
    meaning: 'An audit trail failed verification: a line was edited, deleted, reordered or is not JSON.',
  },
  AUDIT_SHIP_FAILED: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning: 'The audit trail could not be shipped off the host (S3 refused or unreachable); retried.',
  },
  METRICS_PUBLISH_FAILED: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning:
      'CloudWatch PutMetricData failed (throttled, unreachable, or refused); the agent keeps running and tries the next round.',
  },
  LOG_SHIP_FAILED: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning:
      'A log destination (CloudWatch Logs, S3, syslog, a file) refused or could not be reached; the records stay in the spool and are retried.',
  },
  VOLUME_ACCESS_DENIED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning:
      'The instance role lacks an EC2 permission the disks need (ec2:DescribeVolumes, ec2:AttachVolume, ec2:DeleteTags).',
  },
  VOLUME_API_UNAVAILABLE: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning: 'The EC2 API stayed throttled (RequestLimitExceeded) or unavailable past the retry budget.',
  },
  VOLUME_NOT_FOUND: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning:
      "No available EBS volume with the `volumes.ebs` Name tag in the instance's availability zone within the search budget.",
  },
  VOLUME_ATTACH_FAILED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'EC2 refused to attach an EBS volume, or the attachment did not reach `attached` in time.',
  },
  DEVICE_NOT_FOUND: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'A device of `volumes` or `mounts.*.partition` did not appear (or could not be opened) in time.',
  },
  RAID_FAILED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'mdadm could not assemble or create a `volumes.raid` array, or the md kernel driver is missing.',
  },
  FILESYSTEM_CHECK_FAILED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning:
      'e2fsck or xfs_repair found errors it could not fix, or the device holds another filesystem than `mounts.*.filesystem`.',
  },
  FILESYSTEM_FORMAT_FAILED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning: 'mkfs failed on the device of a `mounts` entry.',
  },
  MOUNT_FAILED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning:
      'mount refused a `mounts` entry (bad options, unsupported filesystem), or its mount point could not be made.',
  },
  CREDENTIALS_DENIED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning:
      'The mint bucket refused the app credentials (AccessDenied, no such bucket or key) or a file is not JSON.',
  },
  CREDENTIALS_UNAVAILABLE: {
    exitCode: ExitCode.Unavailable,
    retriable: true,
    meaning:
      'S3 stayed throttled or unreachable past the retry budget while downloading the app credentials.',
  },
  SYSCTL_INVALID: {
    exitCode: ExitCode.InvalidConfig,
    retriable: false,
    meaning: 'A `sysctl` name is not a kernel parameter of this host, or the kernel refused its value.',
  },
  HOST_TUNING_FAILED: {
    exitCode: ExitCode.BootFailed,
    retriable: false,
    meaning:
      'Host preparation failed: a sysfs write, the nat_gateways routing (ip, iptables) or the custom log directory.',
  },
  LIFECYCLE_ACTION_FAILED: {
    exitCode: ExitCode.Failure,
    retriable: true,
    meaning:
      'Auto Scaling refused or never took CompleteLifecycleAction; the group continues after the hook times out.',
  },
} as const satisfies Record<string, { exitCode: ExitCode; retriable: boolean; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface TaupageErrorOptions {
  cause?: unknown;
  /** Overrides the code's default (e.g. a Docker error that is transient in this context). */
  retriable?: boolean;
}

/** The only error type the agent reports. Its message is one line, safe to log (no secrets). */
export class TaupageError extends Error {
  override readonly name = 'TaupageError';
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: TaupageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? ERROR_CODES[code].retriable;
  }

  /**
   * The code's exit code, except that a retriable error is never terminal: an adapter that saw a
   * blip (an S3 AccessDenied of a role still propagating, a volume still detaching) says so with
   * `retriable`, and once the in-process retries are spent systemd must get to try again (4).
   */
  get exitCode(): ExitCode {
    const exitCode = ERROR_CODES[this.code].exitCode;
    return this.retriable && TERMINAL_EXIT_CODES.includes(exitCode) ? ExitCode.Unavailable : exitCode;
  }
}

export function isTaupageError(error: unknown): error is TaupageError {
  return error instanceof TaupageError;
}

/** Wraps anything thrown into a TaupageError, keeping the original as `cause`. */
export function toTaupageError(error: unknown): TaupageError {
  if (error instanceof TaupageError) return error;
  if (error instanceof Error && error.name === 'AbortError') {
    return new TaupageError('INTERNAL', 'Operation was aborted', { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new TaupageError('INTERNAL', `Unexpected error: ${firstLine(message)}`, { cause: error });
}

/** Error messages we show are single lines: take the first line of whatever a library said. */
export function firstLine(text: string): string {
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
