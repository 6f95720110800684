import type { Command } from 'commander';
import { ExitCode } from '../core/exit-codes.js';
import { taupageJsonSchema } from '../config/json-schema.js';
import type { CliIo } from './output.js';

/**
 * `taupage schema`: the JSON Schema of taupage.yaml, for editors. With yaml-language-server,
 * put `# yaml-language-server: $schema=taupage-config.schema.json` at the top of a taupage.yaml.
 */
export function registerSchemaCommand(
  program: Command,
  io: CliIo,
  setExitCode: (code: number) => void,
): void {
  program
    .command('schema')
    .description('Print the JSON Schema of taupage.yaml (for editors and yaml-language-server)')
    .action(() => {
      io.stdout(`${JSON.stringify(taupageJsonSchema(), null, 2)}\n`);
      setExitCode(ExitCode.Ok);
    });
}
