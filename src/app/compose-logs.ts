import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import { AGENT_LOG_PATH, AGENT_SOURCE, type AgentLogSource } from '../logs/agent-log-source.js';
import type { AnyLogDestination } from '../logs/log-destination.js';
import type { LogPipeline, LogPipelineStatus } from '../logs/log-pipeline.js';
import type { LogSource } from '../logs/log-record.js';
import {
  APPLICATION_SOURCE,
  HOST_LOG_PATHS,
  parseFilterRegex,
  planLogShipping,
  type HostLogPaths,
} from '../logs/log-shipping-plan.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import { ConfigSecrets } from '../secrets/decrypt-config-secrets.js';
import type { LogPipelineState, LogShippingState } from '../status/agent-state.js';
import {
  localServiceDestinations,
  logentriesDestination,
  scalyrDestination,
  type LogServiceContext,
} from './compose-log-services.js';

export { APPLICATION_LOG_PATH } from '../logs/log-shipping-plan.js';

export interface LogShippingOptions {
  readonly config: TaupageConfig;
  readonly identity: InstanceIdentity;
  readonly containerName: string;
  /** Spool and checkpoints; survives agent restarts. */
  readonly stateDir: string;
  readonly cloudWatchLogsEndpoint: string | undefined;
  /** S3 endpoint override (tests, emulators; path-style). */
  readonly s3Endpoint?: string | undefined;
  /** Where syslog, auth.log and the custom logs are (tests). */
  readonly hostPaths?: HostLogPaths;
  /** Extra CA certificates (PEM) trusted for `rsyslog_protocol: tls`. */
  readonly syslogCa?: string | undefined;
  /**
   * Local mode: no AWS and no remote syslog; the app container's output is appended to
   * `<localFileDir>/application.log` instead (what /var/log/application.log was in the original).
   */
  readonly localFileDir?: string | undefined;
  /**
   * The agent's own log (`/var/log/taupage.log`), teed from the logger and buffered since the
   * start; told to stop buffering when the plan does not ship it.
   */
  readonly agentLog?: AgentLogSource | undefined;
  /** The config's decrypted aws:kms: values (the Scalyr key, the Logentries token). */
  readonly secrets?: ConfigSecrets;
  /** `--scalyr-endpoint`: overrides the region's addEvents URL (agent and local mode). */
  readonly scalyrEndpoint?: string | undefined;
  /** `--logentries-endpoint`: HOST:PORT (TLS) or tcp://HOST:PORT. */
  readonly logentriesEndpoint?: string | undefined;
  /**
   * EC2 mode: the app's output also goes to this file as syslog lines, rotated per
   * `application_logrotate_*` (the original's /var/log/application.log); undefined: not written.
   */
  readonly applicationLog?: {
    readonly path: string;
    readonly containerId: () => string | undefined;
    /** dockerd's pidfile: its pid goes into each line's tag, as Docker's syslog driver put it. */
    readonly dockerPidFile: string;
  };
  readonly redactor: Redactor;
  readonly log: Logger;
}

function serviceContext(options: LogShippingOptions): LogServiceContext {
  return {
    config: options.config,
    identity: options.identity,
    secrets: options.secrets ?? ConfigSecrets.EMPTY,
    redactor: options.redactor,
    log: options.log,
    scalyrEndpoint: options.scalyrEndpoint,
    logentriesEndpoint: options.logentriesEndpoint,
    ca: options.syslogCa,
  };
}

/**
 * Starts the log pipeline for `cloudwatch_logs` and the `logging:` destinations (S3, remote
 * syslog); nothing to ship → undefined.
 */
export async function startLogShipping(options: LogShippingOptions): Promise<LogPipeline | undefined> {
  const { config, identity, log, agentLog } = options;
  if (options.localFileDir !== undefined) {
    agentLog?.stopBuffering();
    return startLocalLogShipping(options, options.localFileDir);
  }
  const plan = planLogShipping(config, identity, options.hostPaths ?? HOST_LOG_PATHS);
  for (const warning of plan.warnings) log.warn(warning);
  if (!plan.sources.some((source) => source.name === AGENT_SOURCE)) agentLog?.stopBuffering();
  if (config.logging === undefined)
    log.info('No logging: section, so no logs go to S3 or syslog (the original’s fluentd defaulted to S3)');
  const sourcePlans =
    options.applicationLog === undefined || plan.sources.some((s) => s.name === APPLICATION_SOURCE)
      ? plan.sources
      : [...plan.sources, { name: APPLICATION_SOURCE, file: undefined, maskJwt: true }];
  if (sourcePlans.length === 0) return undefined;
  // The pipeline pulls in dockerode and the AWS SDK: load them only when used.
  const [{ LogPipeline }, { ContainerLogSource }, { FileTailSource }, { DockerodeContainerLogReader }] =
    await Promise.all([
      import('../logs/log-pipeline.js'),
      import('../logs/container-log-source.js'),
      import('../logs/file-tail-source.js'),
      import('../logs/dockerode-container-log-reader.js'),
    ]);
  const sources: LogSource[] = [];
  for (const source of sourcePlans) {
    if (source.name === AGENT_SOURCE) {
      if (agentLog === undefined)
        log.warn(`cloudwatch_logs ${AGENT_LOG_PATH}: the agent's own log is not teed here; not shipped`);
      else sources.push(agentLog);
      continue;
    }
    sources.push(
      source.file === undefined
        ? new ContainerLogSource({
            name: source.name,
            container: options.containerName,
            reader: new DockerodeContainerLogReader(),
            log: log.child({ source: source.name }),
          })
        : new FileTailSource({
            pattern: source.file,
            name: source.name,
            maskJwt: source.maskJwt,
            // Scalyr names each file a pattern matches (`logfile`); nobody else needs the file.
            recordFile: plan.scalyr?.routes[source.name] !== undefined,
            log: log.child({ source: source.name }),
          }),
    );
  }
  const destinations: AnyLogDestination[] = [];
  if (Object.keys(plan.cloudWatchLogs).length > 0) {
    const { AwsCloudWatchLogsDestination } = await import('../logs/aws-cloudwatch-logs-destination.js');
    const routes = Object.fromEntries(
      Object.entries(plan.cloudWatchLogs).map(([source, logGroup]) => [
        source,
        { logGroup, logStream: identity.instanceId },
      ]),
    );
    destinations.push(
      new AwsCloudWatchLogsDestination({
        region: identity.region,
        endpoint: options.cloudWatchLogsEndpoint,
        routes,
        log: log.child({ destination: 'cloudwatch-logs' }),
      }),
    );
  }
  if (plan.s3 !== undefined) {
    const { AwsS3LogDestination } = await import('../logs/aws-s3-log-destination.js');
    destinations.push(
      new AwsS3LogDestination({
        bucket: plan.s3.bucket,
        region: plan.s3.region,
        endpoint: options.s3Endpoint,
        acl: plan.s3.acl,
        naming: {
          prefix: 'taupage',
          applicationId: config.applicationId ?? 'unknown',
          applicationVersion: config.applicationVersion ?? 'unknown',
          instanceId: identity.instanceId,
        },
        routes: plan.s3.routes,
        timekeyMs: plan.s3.timekeyMs,
        raw: plan.s3.raw,
        log: log.child({ destination: 's3' }),
      }),
    );
  }
  if (plan.syslog !== undefined) {
    const { SyslogDestination } = await import('../logs/syslog-destination.js');
    const syslog = plan.syslog;
    destinations.push(
      new SyslogDestination({
        host: syslog.host,
        port: syslog.port,
        protocol: syslog.protocol,
        header: {
          facility: 1,
          severity: syslog.severity,
          hostname: syslog.hostname ?? hostname().split('.')[0] ?? '-',
          appName: syslog.appName,
        },
        params: [
          ['application_id', config.applicationId ?? ''],
          ['application_version', config.applicationVersion ?? ''],
          ['instance_id', identity.instanceId],
        ],
        routes: syslog.routes,
        ca: options.syslogCa,
        log: log.child({ destination: 'rsyslog' }),
      }),
    );
  }
  if (plan.scalyr !== undefined) {
    const scalyr = await scalyrDestination(plan.scalyr, serviceContext(options));
    if (scalyr !== undefined) destinations.push(scalyr);
  }
  if (plan.logentries !== undefined) {
    const logentries = await logentriesDestination(plan.logentries, serviceContext(options));
    if (logentries !== undefined) destinations.push(logentries);
  }
  // Last, so the remote destinations keep their order (status, metrics).
  if (options.applicationLog !== undefined) {
    const { ApplicationLogDestination, dockerdPid } = await import('../logs/application-log-destination.js');
    const { dockerPidFile } = options.applicationLog;
    const { applicationLogRotation } = await import('../logs/log-rotation.js');
    destinations.push(
      new ApplicationLogDestination({
        path: options.applicationLog.path,
        source: APPLICATION_SOURCE,
        hostname: hostname().split('.')[0] ?? 'localhost',
        containerId: options.applicationLog.containerId,
        pid: () => dockerdPid(dockerPidFile, process.pid),
        rotation: applicationLogRotation(config),
        now: () => Date.now(),
        log: log.child({ destination: 'application-log' }),
      }),
    );
  }
  log.info(
    {
      sources: sourcePlans.map((s) => s.name),
      destinations: destinations.map((d) => d.name),
      ...(plan.s3 === undefined ? {} : { s3Bucket: plan.s3.bucket }),
      ...(plan.syslog === undefined ? {} : { syslogHost: `${plan.syslog.host}:${String(plan.syslog.port)}` }),
    },
    'Shipping logs',
  );
  return LogPipeline.start({
    stateDir: options.stateDir,
    sources,
    destinations,
    redactor: options.redactor,
    log,
  });
}

/** Local mode: the app container's output to `<dir>/application.log`. */
async function startLocalLogShipping(options: LogShippingOptions, dir: string): Promise<LogPipeline> {
  const { config, log } = options;
  const [{ LogPipeline }, { ContainerLogSource }, { DockerodeContainerLogReader }, { FileDestination }] =
    await Promise.all([
      import('../logs/log-pipeline.js'),
      import('../logs/container-log-source.js'),
      import('../logs/dockerode-container-log-reader.js'),
      import('../logs/file-destination.js'),
    ]);
  const exclude = config.logging?.applogFilterExclude;
  log.info({ file: join(dir, 'application.log') }, 'Writing the app output to a local file');
  const destinations: AnyLogDestination[] = [
    new FileDestination({
      dir,
      routes: {
        [APPLICATION_SOURCE]: {
          file: 'application.log',
          exclude: exclude === undefined ? undefined : parseFilterRegex(exclude),
        },
      },
    }),
  ];
  destinations.push(...(await localServiceDestinations(APPLICATION_SOURCE, serviceContext(options))));
  return LogPipeline.start({
    stateDir: options.stateDir,
    sources: [
      new ContainerLogSource({
        name: APPLICATION_SOURCE,
        container: options.containerName,
        reader: new DockerodeContainerLogReader(),
        log: log.child({ source: APPLICATION_SOURCE }),
      }),
    ],
    destinations,
    redactor: options.redactor,
    log,
  });
}

/** The pipeline's state as GET /status and the `taupage_log_*` metrics show it. */
export function logPipelineState(status: LogPipelineStatus): LogPipelineState {
  return {
    destinations: status.destinations.map((destination): LogShippingState => ({
      destination: destination.name,
      lagSeconds: destination.lagSeconds,
      spoolBytes: destination.lagBytes,
      droppedLines: destination.dropped + destination.rejected,
      delivered: destination.delivered,
      rejected: destination.rejected,
      dropped: destination.dropped,
      sampledOut: destination.sampledOut,
      failures: destination.failures,
      failing: destination.failing,
      lastError: destination.lastError,
    })),
    sources: status.sources.map(({ name, running, lines, lastError, via }) => ({
      name,
      running,
      lines,
      lastError,
      ...(via === undefined ? {} : { via }),
    })),
    spool: { diskBytes: status.spool.diskBytes, pendingBytes: status.spool.pendingBytes },
  };
}
