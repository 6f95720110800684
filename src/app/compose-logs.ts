import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import type { LogDestination } from '../logs/log-destination.js';
import type { LogPipeline } from '../logs/log-pipeline.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { LogShippingState } from '../status/agent-state.js';

/**
 * In the original, the container's output went to /var/log/application.log (syslog driver +
 * rsyslog), and `cloudwatch_logs: {/var/log/application.log: group}` shipped it. taupage reads
 * the output from the Docker API instead, so that key now means "the app container's output";
 * every other key is a host file (or a `*` pattern) tailed as before.
 */
export const APPLICATION_LOG_PATH = '/var/log/application.log';

export interface LogShippingOptions {
  readonly config: TaupageConfig;
  readonly identity: InstanceIdentity;
  readonly containerName: string;
  /** Spool and checkpoints; survives agent restarts. */
  readonly stateDir: string;
  readonly cloudWatchLogsEndpoint: string | undefined;
  readonly redactor: Redactor;
  readonly log: Logger;
}

/** Starts the log pipeline for `cloudwatch_logs`; nothing to ship → undefined. */
export async function startLogShipping(options: LogShippingOptions): Promise<LogPipeline | undefined> {
  const { config, identity, log } = options;
  if (config.cloudwatchLogs.size === 0) return undefined;
  // The pipeline pulls in dockerode and the CloudWatch Logs SDK: load them only when used.
  const [
    { LogPipeline },
    { ContainerLogSource },
    { FileTailSource },
    { DockerodeContainerLogReader },
    destinationModule,
  ] = await Promise.all([
    import('../logs/log-pipeline.js'),
    import('../logs/container-log-source.js'),
    import('../logs/file-tail-source.js'),
    import('../logs/dockerode-container-log-reader.js'),
    import('../logs/aws-cloudwatch-logs-destination.js'),
  ]);
  const sources = [];
  const routes: Record<string, { logGroup: string; logStream: string }> = {};
  for (const [path, logGroup] of config.cloudwatchLogs) {
    if (path === APPLICATION_LOG_PATH) {
      sources.push(
        new ContainerLogSource({
          name: 'application',
          container: options.containerName,
          reader: new DockerodeContainerLogReader(),
          log: log.child({ source: 'application' }),
        }),
      );
      routes.application = { logGroup, logStream: identity.instanceId };
    } else {
      sources.push(new FileTailSource({ pattern: path, name: path, log: log.child({ source: path }) }));
      routes[path] = { logGroup, logStream: identity.instanceId };
    }
  }
  const destinations: LogDestination[] = [
    new destinationModule.AwsCloudWatchLogsDestination({
      region: identity.region,
      endpoint: options.cloudWatchLogsEndpoint,
      routes,
      log: log.child({ destination: 'cloudwatch-logs' }),
    }),
  ];
  log.info({ sources: [...config.cloudwatchLogs.keys()] }, 'Shipping logs to CloudWatch Logs');
  return LogPipeline.start({
    stateDir: options.stateDir,
    sources,
    destinations,
    redactor: options.redactor,
    log,
  });
}

/** The pipeline's state as GET /status shows it. */
export function logShippingState(pipeline: LogPipeline): LogShippingState[] {
  const status = pipeline.status();
  return status.destinations.map((destination) => ({
    destination: destination.name,
    lagSeconds: undefined,
    spoolBytes: destination.lagBytes,
    droppedLines: destination.dropped + destination.rejected,
    lastError: destination.lastError,
  }));
}
