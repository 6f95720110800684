import { resolve } from 'node:path';
import type { AgentSettings, AuditSettings, Ec2AgentSettings, LocalAgentSettings } from '../app/settings.js';
import { isLoopback, parseListen } from '../app/settings.js';
import { scalyrAddEventsUrl } from '../app/compose-log-services.js';
import { parseLogentriesEndpoint } from '../logs/logentries-destination.js';
import { everySeconds } from '../metrics/scheduler.js';
import { DEFAULT_KILL_GRACE_MS } from '../ssh/ssh-access.js';
import type { HostSshSettings } from '../ssh/configure-host-ssh.js';
import { integrationSettings, type IntegrationOptions } from './integration-options.js';
import { mutableTagPolicy } from './mutable-tags-option.js';
import { UsageError } from './output.js';

// The values of the flags in agent-options.ts, as commander hands them over.

export interface CommonOptions {
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
  scalyrEndpoint?: string;
  logentriesEndpoint?: string;
}

export interface AgentOptions extends CommonOptions, AuditAgentOptions, IntegrationOptions {
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

export interface LocalOptions extends CommonOptions {
  config: string;
  region: string;
  devKeyFile: string;
  keepContainer: boolean;
}

export interface AuditAgentOptions {
  auditFile: string;
  auditShipperState: string;
  auditS3?: string;
  auditS3Region?: string;
  auditS3Endpoint?: string;
  sshAccessConfig: string;
  sshGrantsFile: string;
  sshRootKeysFile: string;
  sshAuthLog: string;
  sshdConfigDir: string;
  sshdMainConfig?: string;
  sshdRuntimeDir: string;
  sshdPidFile?: string;
  instanceUserHomes: string;
  sshRootKeysTmpfs: string;
}

/** `taupage agent`: the flags' values as settings; a bad value is a UsageError naming the flag. */
export function ec2Settings(options: AgentOptions): Ec2AgentSettings {
  const audit = auditSettings(options);
  const sshd = hostSshSettings(options);
  return {
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
    integration: integrationSettings(options),
    ...commonSettings(options),
  };
}

/** `taupage local`: a laptop or CI box, no AWS; what EC2 mode reads from flags is fixed here. */
export function localSettings(options: LocalOptions): LocalAgentSettings {
  return {
    mode: 'local',
    logStateDir: resolve('.taupage/logs'),
    // A laptop is never powered off by `shutdown:` (local-platform.ts); Ctrl-C stops and removes the app.
    supervisorStateFile: resolve('.taupage/container.json'),
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
}

/** A positive number of seconds from a flag's value. */
function seconds(value: string, flag: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0)
    throw new UsageError(`${flag} expects a positive number of seconds, not "${value}"`);
  return number;
}

/** A whole number from 1 to 100 (thresholds). */
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
  if (options.scalyrEndpoint !== undefined) {
    try {
      scalyrAddEventsUrl(options.scalyrEndpoint);
    } catch (error) {
      throw new UsageError(`--scalyr-endpoint: ${(error as Error).message}`);
    }
  }
  if (options.logentriesEndpoint !== undefined) {
    try {
      parseLogentriesEndpoint(options.logentriesEndpoint);
    } catch (error) {
      throw new UsageError(`--logentries-endpoint: ${(error as Error).message}`);
    }
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
    scalyrEndpoint: options.scalyrEndpoint,
    logentriesEndpoint: options.logentriesEndpoint,
    logLevel: options.logLevel,
    mutableTags: mutableTagPolicy(options.mutableTags),
  };
}

function hostPowerChoice(value: string): string {
  if (value === 'systemd' || value === 'off' || /^record:.+/.test(value)) return value;
  throw new UsageError(`--host-power expects systemd, off or record:FILE, not "${value}"`);
}

/** The host sshd flags as HostSshSettings; undefined with --sshd-config-dir off. */
export function hostSshSettings(options: AuditAgentOptions): HostSshSettings | undefined {
  if (options.sshdConfigDir === 'off') return undefined;
  return {
    configDir: resolve(options.sshdConfigDir),
    mainConfig: options.sshdMainConfig,
    pidFile: options.sshdPidFile,
    runtimeDir: options.sshdRuntimeDir === 'off' ? undefined : resolve(options.sshdRuntimeDir),
    instanceUserHomes: options.instanceUserHomes
      .split(',')
      .map((home) => home.trim())
      .filter(Boolean),
    rootKeysFile: options.sshRootKeysFile,
    rootKeysTmpfsFile: options.sshRootKeysTmpfs === 'off' ? undefined : resolve(options.sshRootKeysTmpfs),
  };
}

/** The flags as AuditSettings; undefined with --audit-file off. */
export function auditSettings(options: AuditAgentOptions): AuditSettings | undefined {
  if (options.auditFile === 'off') return undefined;
  let s3: AuditSettings['s3'];
  if (options.auditS3 !== undefined) {
    const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/?(.*)$/.exec(options.auditS3);
    if (match === null)
      throw new UsageError(`--audit-s3 expects s3://BUCKET/PREFIX/, not "${options.auditS3}"`);
    s3 = {
      bucket: match[1] ?? '',
      prefix: match[2] ?? '',
      ...(options.auditS3Region === undefined ? {} : { region: options.auditS3Region }),
      endpoint: options.auditS3Endpoint,
    };
  }
  return {
    file: resolve(options.auditFile),
    shipperStateFile: resolve(options.auditShipperState),
    s3,
    ssh: {
      configFile: options.sshAccessConfig,
      grantsFile: resolve(options.sshGrantsFile),
      rootKeysFile: options.sshRootKeysFile,
      homeBase: undefined,
      killGraceMs: DEFAULT_KILL_GRACE_MS,
      authLog: options.sshAuthLog === 'off' ? undefined : options.sshAuthLog,
      sshdRuntimeDir: options.sshdRuntimeDir === 'off' ? undefined : resolve(options.sshdRuntimeDir),
      sshdPidFile: options.sshdPidFile,
    },
  };
}
