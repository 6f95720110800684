/**
 * Process exit codes: a contract with the systemd unit (systemd/taupage.service lists the
 * terminal ones in RestartPreventExitStatus=) and with scripts calling the CLI. Documented in
 * docs/errors.md; test/unit/core/errors-doc.test.ts keeps the two in agreement.
 */
export const ExitCode = {
  /** Success, or a clean shutdown after SIGTERM. */
  Ok: 0,
  /** Unexpected failure, or `validate` could not read its input. systemd restarts the agent. */
  Failure: 1,
  /** The configuration (user data) is invalid. Terminal: restarting cannot fix it. */
  InvalidConfig: 2,
  /** Boot failed for a permanent reason (image not found, access denied, health timeout). Terminal. */
  BootFailed: 3,
  /** A dependency (IMDS, KMS, registry, Docker) stayed unavailable past its retry budget. Restartable. */
  Unavailable: 4,
  /** Wrong command-line usage. */
  Usage: 64,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Exit codes after which restarting the agent cannot help (systemd RestartPreventExitStatus=). */
export const TERMINAL_EXIT_CODES: readonly ExitCode[] = [
  ExitCode.InvalidConfig,
  ExitCode.BootFailed,
  ExitCode.Usage,
];
