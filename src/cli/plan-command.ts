import type { Command } from 'commander';
import { TaupageError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import { formatIssue } from '../config/issues.js';
import { loadConfig, readConfigFile, readDefaults } from '../config/load-config.js';
import {
  buildContainerSpec,
  describeContainerSpec,
  type ContainerDescription,
} from '../docker/container-spec.js';
import { DEFAULTS } from '../app/settings.js';
import { mutableTagPolicy, mutableTagsOption } from './mutable-tags-option.js';
import { type CliIo, UsageError } from './output.js';

interface PlanOptions {
  config: string;
  defaults?: string;
  format: string;
  metaDir: string;
  containerName: string;
  applicationUser: string;
  mutableTags: string;
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
    .addOption(mutableTagsOption())
    .action(async (options: PlanOptions) => {
      if (options.format !== 'text' && options.format !== 'json')
        throw new UsageError(`--format must be text or json, not "${options.format}"`);
      const mutableTags = mutableTagPolicy(options.mutableTags);
      const { validation } = loadConfig(
        await readConfigFile(options.config),
        await readDefaults(options.defaults),
        { mutableTags },
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
      // The image's own HEALTHCHECK, if any, is only known to Docker: the boot waits for it too.
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
  spec: ContainerDescription,
  healthCheck: { url: string; timeoutSeconds: number } | null,
  digest: string,
  warnings: readonly string[],
): string {
  const { resources, logConfig } = spec;
  const limits = [
    resources.memoryBytes === null ? undefined : `memory ${formatBytes(resources.memoryBytes)}`,
    resources.memoryReservationBytes === null
      ? undefined
      : `reservation ${formatBytes(resources.memoryReservationBytes)}`,
    resources.cpus === null ? undefined : `cpus ${resources.cpus}`,
    resources.cpuShares === null ? undefined : `cpu shares ${resources.cpuShares}`,
  ].filter((limit) => limit !== undefined);
  const caps = [...spec.capAdd.map((cap) => `+${cap}`), ...spec.capDrop.map((cap) => `-${cap}`)];
  const logOptions = Object.entries(logConfig.options).map(([option, value]) => `${option}=${value}`);
  const lines = [
    `container ${spec.name}`,
    `  image:      ${spec.image}`,
    `  user:       ${spec.user}`,
    `  restart:    ${spec.restartPolicy}`,
    `  network:    ${spec.networkMode}`,
    `  hostname:   ${spec.hostname ?? 'Docker default (the container id)'}`,
    `  ports:      ${spec.ports.length === 0 ? '(none)' : spec.ports.map((p) => `${p.host} -> ${p.container}/${p.protocol}`).join(', ')}`,
    '  mounts:',
    ...spec.mounts.map((m) => `    ${m.source} -> ${m.target}${m.readOnly ? ' (read-only)' : ''}`),
    `  privileged: ${spec.privileged ? 'yes' : 'no'}`,
    `  read-only:  ${spec.readOnlyRootfs ? 'yes (root filesystem)' : 'no'}`,
    `  caps:       ${caps.length === 0 ? '(Docker default)' : caps.join(' ')}`,
    `  shm size:   ${spec.shmSizeBytes === null ? 'Docker default (64m)' : formatBytes(spec.shmSizeBytes)}`,
    `  stop:       ${spec.stopTimeoutSeconds === null ? 'Docker default (10 s)' : `${spec.stopTimeoutSeconds} s`} after SIGTERM`,
    `  limits:     ${limits.length === 0 ? '(none)' : limits.join(', ')}`,
    `  logs:       ${logConfig.driver}${logOptions.length === 0 ? '' : ` (${logOptions.join(', ')})`}`,
    '  env:',
    ...spec.env.map(({ name, value }) => `    ${name}=${value}`),
    '  labels:',
    ...Object.entries(spec.labels).map(([key, value]) => `    ${key}=${value}`),
    `health check: ${healthCheck === null ? 'none' : `${healthCheck.url} within ${healthCheck.timeoutSeconds} s`}; and the image's HEALTHCHECK, if it has one`,
    `config digest: ${digest}`,
    ...warnings.map((warning) => `warning: ${warning}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** Bytes as the largest whole binary unit (`512m`, `1g`), as the config writes sizes. */
function formatBytes(bytes: number): string {
  for (const [unit, factor] of [
    ['g', 1024 ** 3],
    ['m', 1024 ** 2],
    ['k', 1024],
  ] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes} bytes`;
}
