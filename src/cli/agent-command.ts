import { Option, type Command } from 'commander';
import { DEFAULTS } from '../app/settings.js';
import { ExitCode } from '../core/exit-codes.js';
import { defaultDevKeyPath, encryptWithDevKey, loadOrCreateDevKey } from '../secrets/local-dev-key.js';
import { addAgentOptions, addAuditAgentOptions, addCommonOptions, addLocalOptions } from './agent-options.js';
import { addIntegrationOptions } from './integration-options.js';
import { ec2Settings, localSettings, type AgentOptions, type LocalOptions } from './agent-settings.js';
import type { CliIo } from './output.js';
import { runAgent } from './run-agent.js';
import type { StatusFirst } from '../app/status-endpoint.js';

/**
 * `taupage agent` (what systemd starts) and `taupage local` (the same boot off EC2). Flags:
 * agent-options.ts; `statusFirst`: the agent's status endpoint, when main.ts opened it already.
 */
export function registerAgentCommands(
  program: Command,
  io: CliIo,
  setExitCode: (code: number) => void,
  statusFirst?: StatusFirst,
): void {
  addCommonOptions(
    addAgentOptions(
      addIntegrationOptions(addAuditAgentOptions(program.command('agent'))).description(
        'Run the node agent (what systemd starts): boot from EC2 user data, then supervise until SIGTERM',
      ),
    ),
    DEFAULTS.metaDir,
    DEFAULTS.defaultsFile,
  ).action(async (options: AgentOptions) => {
    setExitCode(await runAgent(ec2Settings(options), io, process, statusFirst));
  });

  const local = program
    .command('local')
    .description(
      'Run the same boot on a laptop or CI box: config from a file, local dev key for aws:kms: values',
    );
  addCommonOptions(
    addLocalOptions(
      local
        .command('run', { isDefault: true })
        .description(
          'Boot from a config file and supervise until Ctrl-C (the default: "taupage local --config FILE")',
        ),
    ),
    DEFAULTS.localMetaDir,
    undefined,
  ).action(async (options: LocalOptions) => {
    setExitCode(await runAgent(localSettings(options), io));
  });
  local
    .command('encrypt')
    .description('Print an aws:kms: value for VALUE, encrypted with the local dev key (local mode only)')
    .argument('<value>', 'the plaintext')
    .addOption(
      new Option('--dev-key-file <file>', 'local dev key')
        .env('TAUPAGE_LOCAL_DEV_KEY_FILE')
        .default(defaultDevKeyPath()),
    )
    .action(async (value: string, options: { devKeyFile: string }) => {
      const key = await loadOrCreateDevKey(options.devKeyFile);
      io.stdout(`${encryptWithDevKey(key, value)}\n`);
      setExitCode(ExitCode.Ok);
    });
}
