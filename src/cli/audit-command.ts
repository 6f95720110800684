import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { TaupageError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import { verifyAuditChain } from '../audit/verify-audit-chain.js';
import type { CliIo } from './output.js';

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
