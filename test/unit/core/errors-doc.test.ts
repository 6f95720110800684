import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../../src/core/errors.js';
import { ExitCode, TERMINAL_EXIT_CODES } from '../../../src/core/exit-codes.js';

const doc = await readFile(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

describe('docs/errors.md', () => {
  it('has one row per error code, with its exit code, retry flag and meaning', () => {
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d+) \| (yes|no) \| (.+) \|$/gm)].map((match) => [
      match[1],
      Number(match[2]),
      match[3] === 'yes',
      match[4],
    ]);
    expect(rows).toEqual(
      Object.entries(ERROR_CODES).map(([code, entry]) => [
        code,
        entry.exitCode,
        entry.retriable,
        entry.meaning,
      ]),
    );
  });

  it('audits every code: terminal exactly when its exit code is, with a reason', () => {
    const rows = [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d+) \| (terminal|restartable) \| (.+) \|$/gm)].map(
      (match) => [match[1], Number(match[2]), match[3] === 'terminal'],
    );
    expect(rows).toEqual(
      Object.entries(ERROR_CODES).map(([code, entry]) => [
        code,
        entry.exitCode,
        TERMINAL_EXIT_CODES.includes(entry.exitCode),
      ]),
    );
  });

  it('documents every exit code and which ones are terminal for systemd', () => {
    for (const code of Object.values(ExitCode)) {
      const row = new RegExp(`^\\| ${code} \\| .* \\| (.+) \\|$`, 'm').exec(doc);
      expect(row, `exit code ${code} is documented`).not.toBeNull();
      expect(row?.[1]?.startsWith('no (terminal)')).toBe(TERMINAL_EXIT_CODES.includes(code));
    }
  });
});

describe('systemd/taupage.service', () => {
  it('prevents restarts exactly for the terminal exit codes', async () => {
    const unit = await readFile(new URL('../../../systemd/taupage.service', import.meta.url), 'utf8');
    const codes = /^RestartPreventExitStatus=(.+)$/m.exec(unit)?.[1]?.split(/\s+/).map(Number);
    expect(codes).toEqual([...TERMINAL_EXIT_CODES]);
  });
});
