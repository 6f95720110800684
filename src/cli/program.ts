import { Command, CommanderError } from 'commander';
import { ExitCode } from '../core/exit-codes.js';
import type { StatusFirst } from '../app/status-endpoint.js';
import { VERSION } from '../version.js';
import { registerAgentCommands } from './agent-command.js';
import { registerAuditCommand } from './audit-command.js';
import { type CliIo, reportError } from './output.js';
import { registerPlanCommand } from './plan-command.js';
import { registerSchemaCommand } from './schema-command.js';
import { registerSshAccessCommand } from './ssh-access-command.js';
import { registerStatusCommand } from './status-command.js';
import { registerValidateCommand } from './validate-command.js';

/**
 * Builds the `taupage` command line. Returns the exit code; never throws, never exits.
 * `statusFirst`: the status endpoint main.ts opened for `taupage agent` (cli/status-first.ts).
 */
export async function runCli(argv: readonly string[], io: CliIo, statusFirst?: StatusFirst): Promise<number> {
  let exitCode: number = ExitCode.Ok;
  const setExitCode = (code: number): void => {
    exitCode = code;
  };
  const program = new Command('taupage')
    .description('On-instance node agent: turns a TaupageConfig in EC2 user data into a running, healthy app')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();
  program.configureHelp({ sortSubcommands: false });

  registerAgentCommands(program, io, setExitCode, statusFirst);
  registerPlanCommand(program, io, setExitCode);
  registerValidateCommand(program, io, setExitCode);
  registerSchemaCommand(program, io, setExitCode);
  registerStatusCommand(program, io, setExitCode);
  registerSshAccessCommand(program, io, setExitCode);
  registerAuditCommand(program, io, setExitCode);
  program
    .command('version')
    .description('Print the taupage version and build commit')
    .option('--format <format>', 'text or json', 'text')
    .action((options: { format: string }) => {
      io.stdout(
        options.format === 'json'
          ? `${JSON.stringify(VERSION)}\n`
          : `taupage ${VERSION.version} (${VERSION.commit})\n`,
      );
    });
  for (const command of program.commands)
    command.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  try {
    if (argv.length === 0) {
      program.outputHelp();
      return ExitCode.Usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with these codes; anything else is a usage mistake commander printed.
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.help' ||
        error.code === 'commander.version'
      )
        return ExitCode.Ok;
      return ExitCode.Usage;
    }
    return reportError(io, error);
  }
}
