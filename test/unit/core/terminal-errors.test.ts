import { describe, expect, it } from 'vitest';
import { ERROR_CODES, TaupageError, type ErrorCode } from '../../../src/core/errors.js';
import { ExitCode, TERMINAL_EXIT_CODES } from '../../../src/core/exit-codes.js';

// Issue 15, "no transient failure is terminal": an error an adapter marks retriable (a blip it
// saw) never ends the agent with an exit code systemd will not restart, whatever its code's
// default — e.g. an S3 AccessDenied for a role still propagating, an EBS volume still detaching.
describe('exit codes of transient failures', () => {
  const codes = Object.keys(ERROR_CODES) as ErrorCode[];

  it('a retriable error never exits with a terminal code', () => {
    for (const code of codes) {
      const error = new TaupageError(code, 'a blip', { retriable: true });
      expect(TERMINAL_EXIT_CODES, code).not.toContain(error.exitCode);
    }
  });

  it('a retriable error whose code is terminal exits 4 (restartable: a dependency stayed unavailable)', () => {
    expect(new TaupageError('CREDENTIALS_DENIED', 'AccessDenied', { retriable: true }).exitCode).toBe(
      ExitCode.Unavailable,
    );
    expect(new TaupageError('VOLUME_ATTACH_FAILED', 'IncorrectState', { retriable: true }).exitCode).toBe(
      ExitCode.Unavailable,
    );
  });

  it('a non-retriable error keeps its code’s exit code', () => {
    for (const code of codes) {
      expect(new TaupageError(code, 'final', { retriable: false }).exitCode, code).toBe(
        ERROR_CODES[code].exitCode,
      );
    }
  });

  it('every code whose default is retriable has a restartable exit code', () => {
    for (const code of codes.filter((c) => ERROR_CODES[c].retriable)) {
      expect(TERMINAL_EXIT_CODES, code).not.toContain(ERROR_CODES[code].exitCode);
    }
  });
});
