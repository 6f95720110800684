import { isTaupageError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';

/** Where CLI commands write; injected so tests can capture it. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** A usage mistake found by a command itself (commander reports its own). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** One line on stderr and the documented exit code — never a stack trace. */
export function reportError(io: CliIo, error: unknown): number {
  if (error instanceof UsageError) {
    io.stderr(`taupage: ${error.message}\n`);
    return ExitCode.Usage;
  }
  if (isTaupageError(error)) {
    io.stderr(`taupage: error ${error.code}: ${error.message}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message.split('\n', 1)[0] : String(error);
  io.stderr(`taupage: unexpected error: ${message ?? ''}\n`);
  return ExitCode.Failure;
}
