import type { Command } from 'commander';
import { isTaupageError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import { checkConfigInput, type InputKind } from '../config/config-input.js';
import { formatIssue, type ConfigIssue } from '../config/issues.js';
import { readConfigFile, readDefaults } from '../config/load-config.js';
import { mutableTagPolicy, mutableTagsOption } from './mutable-tags-option.js';
import { type CliIo, UsageError } from './output.js';

/** What a defaults file is checked under: the keys every config has (the file's own keys win). */
const DEFAULTS_CHECK_BASE = { runtime: 'Docker', source: 'registry.example.org/defaults-check/app:1.0' };

interface FileResult {
  readonly file: string;
  /** The AMI defaults file, checked alone. */
  readonly defaultsOnly?: boolean;
  readonly valid: boolean;
  readonly kind: InputKind | undefined;
  readonly configs: number;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

interface ValidateOptions {
  readonly defaults?: string;
  readonly format: string;
  readonly rendered?: boolean;
  readonly mutableTags: string;
}

export function registerValidateCommand(
  program: Command,
  io: CliIo,
  setExitCode: (code: number) => void,
): void {
  program
    .command('validate')
    .description(
      'Check TaupageConfig files without running anything: taupage.yaml, user data (gzip, MIME multipart) or whole Senza definitions',
    )
    .argument('[file...]', 'files to check')
    .option(
      '--defaults <file>',
      'AMI defaults file to merge under each config before checking; with no files, check the defaults file itself',
    )
    .option('--format <format>', 'text or json', 'text')
    .option(
      '--rendered',
      'the files are rendered user data, as the agent reads it at boot: {{…}} placeholders are plain text and aws:kms: values must be well-formed',
    )
    .addOption(mutableTagsOption())
    .addHelpText(
      'after',
      '\nSenza placeholders ({{Arguments.X}}) and CloudFormation functions (Ref, Fn::*) are opaque unless --rendered:\n' +
        'they satisfy text keys and are reported "not checked" where a number or fixed word is needed.\n' +
        'Exit codes: 0 valid (warnings allowed), 2 invalid, 1 a file could not be read.\n' +
        'JSON: {"valid": bool, "errors": [{"file", "path", "message", "line", "column"}], "warnings": [...]}',
    )
    .action(async (files: string[], options: ValidateOptions) => {
      if (options.format !== 'text' && options.format !== 'json')
        throw new UsageError(`--format must be text or json, not "${options.format}"`);
      const mutableTags = mutableTagPolicy(options.mutableTags);
      const defaultsOnly = files.length === 0;
      if (defaultsOnly && options.defaults === undefined)
        throw new UsageError(
          'validate expects FILE... to check, or --defaults FILE to check an AMI defaults file',
        );
      // The defaults file alone (the AMI build's last step checks it): its keys, as the base of a
      // config that adds only what every config must have.
      const defaults = defaultsOnly ? DEFAULTS_CHECK_BASE : await readDefaults(options.defaults);
      const template = defaultsOnly ? false : options.rendered !== true;
      const results: FileResult[] = [];
      let unreadable = false;
      for (const file of defaultsOnly && options.defaults !== undefined ? [options.defaults] : files) {
        let bytes: Buffer;
        try {
          bytes = await readConfigFile(file);
        } catch (error) {
          if (!isTaupageError(error) || error.code !== 'CONFIG_UNREADABLE') throw error;
          unreadable = true;
          results.push({
            file,
            valid: false,
            kind: undefined,
            configs: 0,
            errors: [{ path: '(file)', message: error.message }],
            warnings: [],
          });
          continue;
        }
        const check = checkConfigInput(bytes, { defaults, template, mutableTags });
        results.push({ file, valid: check.errors.length === 0, ...check, defaultsOnly });
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

function describe(result: FileResult): string {
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const blocks =
    result.kind === 'senza-definition'
      ? `Senza definition, ${count(result.configs, 'TaupageConfig block')}`
      : result.defaultsOnly === true
        ? 'AMI defaults'
        : undefined;
  const notes = [
    blocks,
    result.warnings.length > 0 ? count(result.warnings.length, 'warning') : undefined,
  ].filter((note) => note !== undefined);
  const head = result.valid
    ? `${result.file}: valid${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`
    : `${result.file}: invalid (${[count(result.errors.length, 'error'), ...notes].join(', ')})`;
  const lines = [
    head,
    ...result.errors.map((issue) => `  error: ${formatIssue(issue)}`),
    ...result.warnings.map((issue) => `  warning: ${formatIssue(issue)}`),
  ];
  return `${lines.join('\n')}\n`;
}
