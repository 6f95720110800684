import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { ExitCode } from '../core/exit-codes.js';
import { DEFAULTS, isLoopback, parseListen, type AgentSettings } from '../app/settings.js';
import { everySeconds } from '../metrics/scheduler.js';
import { defaultDevKeyPath, encryptWithDevKey, loadOrCreateDevKey } from '../secrets/local-dev-key.js';
import {
  addAuditAgentOptions,
  auditSettings,
  hostSshSettings,
  type AuditAgentOptions,
} from './audit-command.js';
import { type CliIo, UsageError } from './output.js';
import { mutableTagPolicy, mutableTagsOption } from './mutable-tags-option.js';
import { runAgent } from './run-agent.js';

interface CommonOptions {
  defaults?: string;
  metaDir: string;
  statusListen: string;
  statusAllowOffhost: boolean;
  metricsListen: string;
  metricsTextfileDir: string;
  cloudwatchInterval: string;
  cloudwatchEndpoint?: string;
  containerName: string;
  applicationUser: string;
  pullInactivityTimeout: string;
  healthCheckInterval: string;
  healthCheckTimeout: string;
  healthCheckFailureThreshold: string;
  healthCheckSuccessThreshold: string;
  logLevel: string;
  mutableTags: string;
}

interface AgentOptions extends CommonOptions, AuditAgentOptions {
  imdsUrl: string;
  imdsBudget: string;
  kmsEndpoint?: string;
  cloudformationEndpoint?: string;
  cloudwatchLogsEndpoint?: string;
  s3LogsEndpoint?: string;
  logStateDir: string;
  ecrEndpoint?: string;
  elbEndpoint?: string;
  identityLoginRegistries?: string;
  requireTrustedImages?: boolean;
  hostPower: string;
  supervisorState: string;
  bootMarker: string;
  hostScope: string;
  customLogDir: string;
  s3Endpoint?: string;
  ec2Endpoint?: string;
  autoscalingEndpoint?: string;
  lifecyclePoll: string;
}

interface LocalOptions extends CommonOptions {
  config: string;
  region: string;
  devKeyFile: string;
  keepContainer: boolean;
}

function addCommonOptions(command: Command, metaDir: string, defaultsFile: string | undefined): Command {
  const defaults = new Option('--defaults <file>', 'AMI defaults file; user data keys replace its keys').env(
    'TAUPAGE_DEFAULTS_FILE',
  );
  return command
    .addOption(defaultsFile === undefined ? defaults : defaults.default(defaultsFile))
    .addOption(
      new Option('--meta-dir <dir>', 'where taupage.yaml is written; mounted read-only at /meta')
        .env('TAUPAGE_META_DIR')
        .default(metaDir),
    )
    .addOption(
      new Option('--status-listen <host:port>', 'status endpoint address (port 0 picks a free one)')
        .env('TAUPAGE_STATUS_LISTEN')
        .default(DEFAULTS.statusListen),
    )
    .addOption(
      new Option(
        '--status-allow-offhost',
        'allow --status-listen on a non-loopback address (the status shows instance details)',
      )
        .env('TAUPAGE_STATUS_ALLOW_OFFHOST')
        .default(false),
    )
    .addOption(
      new Option('--metrics-listen <host:port|off>', 'Prometheus /metrics address (node_exporter names)')
        .env('TAUPAGE_METRICS_LISTEN')
        .default(DEFAULTS.metricsListen),
    )
    .addOption(
      new Option('--metrics-textfile-dir <dir>', 'merge *.prom files from here into /metrics')
        .env('TAUPAGE_METRICS_TEXTFILE_DIR')
        .default(DEFAULTS.textfileDir),
    )
    .addOption(
      new Option('--cloudwatch-interval <seconds>', 'enhanced_cloudwatch_metrics: publish every N seconds')
        .env('TAUPAGE_CLOUDWATCH_INTERVAL')
        .default(String(DEFAULTS.cloudwatchIntervalSeconds)),
    )
    .addOption(
      new Option('--cloudwatch-endpoint <url>', "CloudWatch endpoint (default: the region's)").env(
        'TAUPAGE_CLOUDWATCH_ENDPOINT',
      ),
    )
    .addOption(
      new Option('--container-name <name>', 'name of the application container')
        .env('TAUPAGE_CONTAINER_NAME')
        .default(DEFAULTS.containerName),
    )
    .addOption(
      new Option('--application-user <uid:gid>', 'user the app runs as unless root: true')
        .env('TAUPAGE_APPLICATION_USER')
        .default(DEFAULTS.applicationUser),
    )
    .addOption(
      new Option('--pull-inactivity-timeout <seconds>', 'abort a pull that shows no progress for this long')
        .env('TAUPAGE_PULL_INACTIVITY_TIMEOUT')
        .default(String(DEFAULTS.pullInactivitySeconds)),
    )
    .addOption(
      new Option(
        '--health-check-interval <seconds>',
        'after the boot, probe health_check_path (and follow the image HEALTHCHECK) every N seconds',
      )
        .env('TAUPAGE_HEALTH_CHECK_INTERVAL')
        .default(String(DEFAULTS.healthCheckIntervalSeconds)),
    )
    .addOption(
      new Option('--health-check-timeout <seconds>', 'a probe without an answer this long fails')
        .env('TAUPAGE_HEALTH_CHECK_TIMEOUT')
        .default(String(DEFAULTS.healthCheckTimeoutSeconds)),
    )
    .addOption(
      new Option(
        '--health-check-failure-threshold <n>',
        'failed probes in a row before the health check counts as failing',
      )
        .env('TAUPAGE_HEALTH_CHECK_FAILURE_THRESHOLD')
        .default(String(DEFAULTS.healthCheckFailureThreshold)),
    )
    .addOption(
      new Option(
        '--health-check-success-threshold <n>',
        'passed probes in a row before a failing health check counts as passing again',
      )
        .env('TAUPAGE_HEALTH_CHECK_SUCCESS_THRESHOLD')
        .default(String(DEFAULTS.healthCheckSuccessThreshold)),
    )
    .addOption(mutableTagsOption())
    .addOption(
      new Option('--log-level <level>', 'trace, debug, info, warn, error')
        .env('TAUPAGE_LOG_LEVEL')
        .default(DEFAULTS.logLevel),
    )
    .addHelpText(
      'after',
      '\nThe Docker engine is taken from DOCKER_HOST (default: the local socket).\nExit codes: see docs/errors.md (0 ok, 1 failure, 2 invalid config, 3 boot failed, 4 dependency unavailable).',
    );
}

/** A positive number of seconds from a flag's value. */
function seconds(value: string, flag: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0)
    throw new UsageError(`${flag} expects a positive number of seconds, not "${value}"`);
  return number;
}

function count(value: string, flag: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 100)
    throw new UsageError(`${flag} expects a whole number from 1 to 100, not "${value}"`);
  return number;
}

/** A cron step: whole seconds that divide a minute (1, 2, 5, 10, 30, …). */
function pollSeconds(value: string): number {
  const number = seconds(value, '--lifecycle-poll');
  if (!Number.isInteger(number) || 60 % number !== 0)
    throw new UsageError(
      `--lifecycle-poll expects whole seconds that divide a minute (1, 5, 10, …), not "${value}"`,
    );
  return number;
}

function commonSettings(options: CommonOptions) {
  let listen;
  try {
    listen = parseListen(options.statusListen);
  } catch (error) {
    throw new UsageError(`--status-listen: ${(error as Error).message}`);
  }
  // Off-host exposure is an explicit decision (the ECS agent's introspection lesson, ecs-agent#1846).
  if (!isLoopback(listen.host) && !options.statusAllowOffhost)
    throw new UsageError(
      `--status-listen ${options.statusListen} is not a loopback address: add --status-allow-offhost to expose the status endpoint off-host`,
    );
  let metrics: AgentSettings['metrics'];
  if (options.metricsListen !== 'off') {
    try {
      metrics = {
        ...parseListen(options.metricsListen),
        textfileDir: options.metricsTextfileDir === '' ? undefined : resolve(options.metricsTextfileDir),
        procRoot: '/proc',
      };
    } catch (error) {
      throw new UsageError(`--metrics-listen: ${(error as Error).message}`);
    }
  }
  const cloudwatch = {
    intervalSeconds: seconds(options.cloudwatchInterval, '--cloudwatch-interval'),
    endpoint: options.cloudwatchEndpoint,
  };
  try {
    everySeconds(cloudwatch.intervalSeconds);
  } catch (error) {
    throw new UsageError(`--cloudwatch-interval: ${(error as Error).message}`);
  }
  if (!/^\d+:\d+$/.test(options.applicationUser))
    throw new UsageError(`--application-user expects UID:GID, not "${options.applicationUser}"`);
  return {
    defaultsFile: options.defaults,
    // Absolute: Docker bind mounts need it, and the log should say where the file is.
    metaDir: resolve(options.metaDir),
    statusHost: listen.host,
    statusPort: listen.port,
    ...(metrics === undefined ? {} : { metrics }),
    cloudwatch,
    containerName: options.containerName,
    applicationUser: options.applicationUser,
    pullInactivityTimeoutMs: seconds(options.pullInactivityTimeout, '--pull-inactivity-timeout') * 1000,
    healthMonitor: {
      intervalMs: seconds(options.healthCheckInterval, '--health-check-interval') * 1000,
      timeoutMs: seconds(options.healthCheckTimeout, '--health-check-timeout') * 1000,
      failureThreshold: count(options.healthCheckFailureThreshold, '--health-check-failure-threshold'),
      successThreshold: count(options.healthCheckSuccessThreshold, '--health-check-success-threshold'),
    },
    logLevel: options.logLevel,
    mutableTags: mutableTagPolicy(options.mutableTags),
  };
}

export function registerAgentCommands(
  program: Command,
  io: CliIo,
  setExitCode: (code: number) => void,
): void {
  addCommonOptions(
    addAuditAgentOptions(program.command('agent'))
      .description(
        'Run the node agent (what systemd starts): boot from EC2 user data, then supervise until SIGTERM',
      )
      .addOption(
        new Option('--imds-url <url>', 'instance metadata service')
          .env('TAUPAGE_IMDS_URL')
          .default(DEFAULTS.imdsUrl),
      )
      .addOption(
        new Option('--imds-budget <seconds>', 'how long to wait for IMDS at boot')
          .env('TAUPAGE_IMDS_BUDGET_SECONDS')
          .default(String(DEFAULTS.imdsBudgetSeconds)),
      )
      .addOption(
        new Option('--kms-endpoint <url>', "KMS endpoint (default: the region's)").env(
          'TAUPAGE_KMS_ENDPOINT',
        ),
      )
      .addOption(
        new Option(
          '--cloudformation-endpoint <url>',
          "CloudFormation endpoint for notify_cfn signals (default: the region's)",
        ).env('TAUPAGE_CLOUDFORMATION_ENDPOINT'),
      )
      .addOption(
        new Option(
          '--cloudwatch-logs-endpoint <url>',
          "CloudWatch Logs endpoint (default: the region's)",
        ).env('TAUPAGE_CLOUDWATCH_LOGS_ENDPOINT'),
      )
      .addOption(
        new Option(
          '--s3-logs-endpoint <url>',
          'S3 endpoint of the logging s3 destination (tests; path-style)',
        ).env('TAUPAGE_S3_LOGS_ENDPOINT'),
      )
      .addOption(
        new Option('--log-state-dir <dir>', 'spool and checkpoints of log shipping')
          .env('TAUPAGE_LOG_STATE_DIR')
          .default('/var/lib/taupage/logs'),
      )
      .addOption(
        new Option('--ecr-endpoint <url>', "ECR endpoint (default: the region's)").env(
          'TAUPAGE_ECR_ENDPOINT',
        ),
      )
      .addOption(
        new Option('--elb-endpoint <url>', "Elastic Load Balancing endpoint (default: the region's)").env(
          'TAUPAGE_ELB_ENDPOINT',
        ),
      )
      .addOption(
        new Option(
          '--identity-login-registries <hosts>',
          'comma-separated registries that accept the signed instance identity as login (Pier One)',
        ).env('TAUPAGE_IDENTITY_LOGIN_REGISTRIES'),
      )
      .addOption(
        new Option(
          '--require-trusted-images',
          'pull only images whose manifest says X-Production-Ready-Taupage (or X-Trusted): true',
        ).env('TAUPAGE_REQUIRE_TRUSTED_IMAGES'),
      )
      .addOption(
        new Option(
          '--host-power <systemd|record:FILE|off>',
          'power-off (shutdown:) and host-shutdown detection: systemctl, a file that records instead (tests), or none',
        )
          .env('TAUPAGE_HOST_POWER')
          .default('systemd'),
      )
      .addOption(
        new Option(
          '--supervisor-state <file>',
          "the supervisor's memory of the container across agent restarts",
        )
          .env('TAUPAGE_SUPERVISOR_STATE')
          .default('/var/lib/taupage/container.json'),
      )
      .addOption(
        new Option(
          '--boot-marker <dir>',
          "on tmpfs: <dir>/date is when the agent first started in this host boot (the original's /run/taupage-init-ran; an agent restart leaves an exited app alone)",
        )
          .env('TAUPAGE_BOOT_MARKER')
          .default('/run/taupage-init-ran'),
      )
      .addOption(
        new Option(
          '--host-scope <all|app-only>',
          'all: act on sysctl, sysfs, nat_gateways, volumes and mounts; app-only: refuse them (tests)',
        )
          .env('TAUPAGE_HOST_SCOPE')
          .choices(['all', 'app-only'])
          .default('all'),
      )
      .addOption(
        new Option('--custom-log-dir <dir>', "host side of mount_custom_log (the container's /var/log)")
          .env('TAUPAGE_CUSTOM_LOG_DIR')
          .default('/var/log-custom'),
      )
      .addOption(
        new Option(
          '--s3-endpoint <url>',
          "S3 endpoint for mint_bucket credentials (default: the region's)",
        ).env('TAUPAGE_S3_ENDPOINT'),
      )
      .addOption(
        new Option('--ec2-endpoint <url>', "EC2 endpoint for volumes.ebs (default: the region's)").env(
          'TAUPAGE_EC2_ENDPOINT',
        ),
      )
      .addOption(
        new Option(
          '--autoscaling-endpoint <url>',
          "Auto Scaling endpoint for lifecycle_hook (default: the region's)",
        ).env('TAUPAGE_AUTOSCALING_ENDPOINT'),
      )
      .addOption(
        new Option(
          '--lifecycle-poll <seconds>',
          'how often IMDS is asked for spot/Auto Scaling termination notices',
        )
          .env('TAUPAGE_LIFECYCLE_POLL')
          .default('5'),
      ),
    DEFAULTS.metaDir,
    DEFAULTS.defaultsFile,
  ).action(async (options: AgentOptions) => {
    const audit = auditSettings(options);
    const sshd = hostSshSettings(options);
    const settings: AgentSettings = {
      mode: 'ec2',
      imdsUrl: options.imdsUrl,
      imdsBudgetMs: seconds(options.imdsBudget, '--imds-budget') * 1000,
      kmsEndpoint: options.kmsEndpoint,
      cloudFormationEndpoint: options.cloudformationEndpoint,
      cloudWatchLogsEndpoint: options.cloudwatchLogsEndpoint,
      s3LogsEndpoint: options.s3LogsEndpoint,
      logStateDir: resolve(options.logStateDir),
      ecrEndpoint: options.ecrEndpoint,
      elbEndpoint: options.elbEndpoint,
      identityDocumentRegistries: (options.identityLoginRegistries ?? '')
        .split(',')
        .map((host) => host.trim())
        .filter(Boolean),
      requireTrustedImages: options.requireTrustedImages === true,
      hostPower: hostPowerChoice(options.hostPower),
      supervisorStateFile: resolve(options.supervisorState),
      bootMarkerDir: resolve(options.bootMarker),
      host: {
        scope: options.hostScope === 'app-only' ? 'app-only' : 'all',
        customLogDir: resolve(options.customLogDir),
        s3Endpoint: options.s3Endpoint,
        ec2Endpoint: options.ec2Endpoint,
        autoScalingEndpoint: options.autoscalingEndpoint,
        lifecyclePollSeconds: pollSeconds(options.lifecyclePoll),
      },
      ...(audit === undefined ? {} : { audit }),
      ...(sshd === undefined ? {} : { sshd }),
      ...commonSettings(options),
    };
    setExitCode(await runAgent(settings, io));
  });

  const local = program
    .command('local')
    .description(
      'Run the same boot on a laptop or CI box: config from a file, local dev key for aws:kms: values',
    );
  addCommonOptions(
    local
      .command('run', { isDefault: true })
      .description(
        'Boot from a config file and supervise until Ctrl-C (the default: "taupage local --config FILE")',
      )
      .requiredOption('--config <file>', 'TaupageConfig file (bare YAML or user data)')
      .option('--region <region>', 'region the local instance pretends to be in', DEFAULTS.localRegion)
      .addOption(
        new Option('--dev-key-file <file>', 'local dev key for aws:kms: values')
          .env('TAUPAGE_LOCAL_DEV_KEY_FILE')
          .default(defaultDevKeyPath()),
      )
      .option('--keep-container', 'leave the container running on exit', false),
    DEFAULTS.localMetaDir,
    undefined,
  ).action(async (options: LocalOptions) => {
    const settings: AgentSettings = {
      mode: 'local',
      imdsUrl: DEFAULTS.imdsUrl,
      imdsBudgetMs: 0,
      kmsEndpoint: undefined,
      cloudFormationEndpoint: undefined,
      cloudWatchLogsEndpoint: undefined,
      logStateDir: resolve('.taupage/logs'),
      ecrEndpoint: undefined,
      elbEndpoint: undefined,
      identityDocumentRegistries: [],
      requireTrustedImages: false,
      // A laptop is never powered off by `shutdown:`; Ctrl-C stops and removes the app.
      hostPower: 'off',
      supervisorStateFile: resolve('.taupage/container.json'),
      bootMarkerDir: undefined,
      // A laptop's kernel, routes and disks are not the app's: only /meta credentials and logs.
      host: {
        scope: 'app-only',
        customLogDir: resolve('.taupage/log-custom'),
        s3Endpoint: undefined,
        ec2Endpoint: undefined,
        autoScalingEndpoint: undefined,
        lifecyclePollSeconds: 5,
      },
      ...commonSettings(options),
      local: {
        configFile: options.config,
        region: options.region,
        devKeyFile: options.devKeyFile,
        keepContainer: options.keepContainer,
      },
    };
    setExitCode(await runAgent(settings, io));
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

function hostPowerChoice(value: string): string {
  if (value === 'systemd' || value === 'off' || /^record:.+/.test(value)) return value;
  throw new UsageError(`--host-power expects systemd, off or record:FILE, not "${value}"`);
}
