import { execFile } from 'node:child_process';

export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
}

/**
 * Runs a tool with an argv array (execFile, never a shell) and resolves with its exit code:
 * callers interpret the codes (e2fsck's bit mask, blkid's 2 = nothing found). It rejects only
 * when the tool could not run: not installed, killed by the timeout, or aborted.
 */
export function runCommand(
  file: string,
  args: readonly string[],
  options: RunOptions,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { signal: options.signal, timeout: options.timeoutMs, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ exitCode: 0, stdout, stderr });
          return;
        }
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'number' && error.killed !== true) {
          resolve({ exitCode: code, stdout, stderr });
          return;
        }
        const why = error.killed === true ? `timed out after ${options.timeoutMs} ms` : error.message;
        reject(new Error(`${file} could not run: ${why}`, { cause: error }));
      },
    );
  });
}

/** The last non-empty line a tool printed on stderr: usually the one that says what went wrong. */
export function lastLine(text: string): string {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  const line = lines.at(-1) ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
