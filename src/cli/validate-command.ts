import type { Command } from 'commander';
import { isTaupageError, TaupageError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import { formatIssue, type ConfigIssue } from '../config/issues.js';
import { loadConfig, readConfigFile, readDefaults } from '../config/load-config.js';
import { YamlSyntaxError } from '../config/yaml-document.js';
import { type CliIo, UsageError } from './output.js';

interface FileResult {
  readonly file: string;
  readonly valid: boolean;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

export function registerValidateCommand(
  program: Command,
  io: CliIo,
  setExitCode: (code: number) => void,
): void {
  program
    .command('validate')
    .description('Check TaupageConfig files (bare YAML or user data) without running anything')
    .argument('<file...>', 'files to check')
    .option('--defaults <file>', 'AMI defaults file to merge under each config before checking')
    .option('--format <format>', 'text or json', 'text')
    .addHelpText(
      'after',
      '\nExit codes: 0 valid (warnings allowed), 2 invalid, 1 a file could not be read.\n' +
        'JSON: {"valid": bool, "errors": [{"file", "path", "message", "line", "column"}], "warnings": [...]}',
    )
    .action(async (files: string[], options: { defaults?: string; format: string }) => {
      if (options.format !== 'text' && options.format !== 'json')
        throw new UsageError(`--format must be text or json, not "${options.format}"`);
      const defaults = await readDefaults(options.defaults);
      const results: FileResult[] = [];
      let unreadable = false;
      for (const file of files) {
        try {
          results.push(validateFile(file, await readConfigFile(file), defaults));
        } catch (error) {
          if (!isTaupageError(error) || error.code !== 'CONFIG_UNREADABLE') throw error;
          unreadable = true;
          results.push({
            file,
            valid: false,
            errors: [{ path: '(file)', message: error.message }],
            warnings: [],
          });
        }
      }
      const valid = results.every((result) => result.valid);
      if (options.format === 'json') {
        const tag = (result: FileResult) => (issue: ConfigIssue) => ({ file: result.file, ...issue });
        io.stdout(
          `${JSON.stringify(
            {
              valid,
              errors: results.flatMap((result) => result.errors.map(tag(result))),
              warnings: results.flatMap((result) => result.warnings.map(tag(result))),
            },
            null,
            2,
          )}\n`,
        );
      } else {
        for (const result of results) io.stdout(describe(result));
      }
      setExitCode(unreadable ? ExitCode.Failure : valid ? ExitCode.Ok : ExitCode.InvalidConfig);
    });
}

function validateFile(file: string, bytes: Buffer, defaults: Record<string, unknown>): FileResult {
  try {
    const { validation } = loadConfig(bytes, defaults);
    return {
      file,
      valid: validation.errors.length === 0,
      errors: validation.errors,
      warnings: validation.warnings,
    };
  } catch (error) {
    if (
      error instanceof TaupageError &&
      (error.code === 'USER_DATA_INVALID' || error.code === 'CONFIG_INVALID')
    ) {
      const position = error.cause instanceof YamlSyntaxError ? error.cause.position : undefined;
      const message =
        error.cause instanceof YamlSyntaxError ? `not valid YAML: ${error.cause.reason}` : error.message;
      return { file, valid: false, errors: [{ path: '(root)', message, ...(position ?? {}) }], warnings: [] };
    }
    throw error;
  }
}

function describe(result: FileResult): string {
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const head = result.valid
    ? `${result.file}: valid${result.warnings.length > 0 ? ` (${count(result.warnings.length, 'warning')})` : ''}`
    : `${result.file}: invalid (${count(result.errors.length, 'error')})`;
  const lines = [
    head,
    ...result.errors.map((issue) => `  error: ${formatIssue(issue)}`),
    ...result.warnings.map((issue) => `  warning: ${formatIssue(issue)}`),
  ];
  return `${lines.join('\n')}\n`;
}
