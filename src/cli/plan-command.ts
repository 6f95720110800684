import type { Command } from 'commander';
import { TaupageError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import { formatIssue } from '../config/issues.js';
import { loadConfig, readConfigFile, readDefaults } from '../config/load-config.js';
import { buildContainerSpec, describeContainerSpec } from '../docker/container-spec.js';
import { DEFAULTS } from '../app/settings.js';
import { type CliIo, UsageError } from './output.js';

interface PlanOptions {
  config: string;
  defaults?: string;
  format: string;
  metaDir: string;
  containerName: string;
  applicationUser: string;
}

export function registerPlanCommand(program: Command, io: CliIo, setExitCode: (code: number) => void): void {
  program
    .command('plan')
    .description(
      'Print the container the boot would create, without calling Docker or AWS (aws:kms: values stay [redacted])',
    )
    .requiredOption('--config <file>', 'TaupageConfig file (bare YAML or user data)')
    .option('--defaults <file>', 'AMI defaults file merged under the config')
    .option('--format <format>', 'text or json', 'text')
    .option('--meta-dir <dir>', 'host directory mounted at /meta', DEFAULTS.metaDir)
    .option('--container-name <name>', 'container name', DEFAULTS.containerName)
    .option(
      '--application-user <uid:gid>',
      'user the app runs as unless root: true',
      DEFAULTS.applicationUser,
    )
    .action(async (options: PlanOptions) => {
      if (options.format !== 'text' && options.format !== 'json')
        throw new UsageError(`--format must be text or json, not "${options.format}"`);
      const { validation } = loadConfig(
        await readConfigFile(options.config),
        await readDefaults(options.defaults),
      );
      if (validation.config === undefined) {
        for (const error of validation.errors) io.stderr(`error: ${formatIssue(error)}\n`);
        throw new TaupageError(
          'CONFIG_INVALID',
          `${options.config} is not a valid TaupageConfig (${validation.errors.length} error(s))`,
        );
      }
      const { config } = validation;
      const spec = describeContainerSpec(
        buildContainerSpec(
          config,
          validation.digest,
          {
            containerName: options.containerName,
            metaDir: options.metaDir,
            applicationUser: options.applicationUser,
          },
          undefined,
        ),
      );
      const healthCheck =
        config.healthCheck === undefined
          ? null
          : {
              url: `http://127.0.0.1:${config.healthCheck.port}${config.healthCheck.path}`,
              timeoutSeconds: config.healthCheck.timeoutSeconds,
            };
      const warnings = validation.warnings.map(formatIssue);
      if (options.format === 'json') {
        io.stdout(
          `${JSON.stringify({ container: spec, healthCheck, configDigest: validation.digest, warnings }, null, 2)}\n`,
        );
      } else {
        io.stdout(renderText(spec, healthCheck, validation.digest, warnings));
      }
      setExitCode(ExitCode.Ok);
    });
}

function renderText(
  spec: ReturnType<typeof describeContainerSpec>,
  healthCheck: { url: string; timeoutSeconds: number } | null,
  digest: string,
  warnings: readonly string[],
): string {
  const env = spec.env as { name: string; value: string }[];
  const ports = spec.ports as { host: number; container: number; protocol: string }[];
  const mounts = spec.mounts as { source: string; target: string; readOnly: boolean }[];
  const labels = spec.labels as Record<string, string>;
  const lines = [
    `container ${String(spec.name)}`,
    `  image:   ${String(spec.image)}`,
    `  user:    ${String(spec.user)}`,
    `  restart: ${String(spec.restartPolicy)}`,
    `  ports:   ${ports.length === 0 ? '(none)' : ports.map((p) => `${p.host} -> ${p.container}/${p.protocol}`).join(', ')}`,
    `  mounts:  ${mounts.map((m) => `${m.source} -> ${m.target}${m.readOnly ? ' (read-only)' : ''}`).join(', ')}`,
    '  env:',
    ...env.map(({ name, value }) => `    ${name}=${value}`),
    '  labels:',
    ...Object.entries(labels).map(([key, value]) => `    ${key}=${value}`),
    `health check: ${healthCheck === null ? 'none' : `${healthCheck.url} within ${healthCheck.timeoutSeconds} s`}`,
    `config digest: ${digest}`,
    ...warnings.map((warning) => `warning: ${warning}`),
  ];
  return `${lines.join('\n')}\n`;
}
