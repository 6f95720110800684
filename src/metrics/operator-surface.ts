import { systemClock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { ContainerStats } from '../docker/container-stats.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { AgentState } from '../status/agent-state.js';
import type { ErrorReporter } from '../status/error-reporter.js';
import { AgentMetrics } from './agent-metrics.js';
import { ContainerMetrics } from './container-metrics.js';
import { EnhancedCloudWatchMetrics } from './enhanced-cloudwatch-metrics.js';
import { readFilesystems } from './filesystem-collector.js';
import { readMeminfo } from './meminfo-collector.js';
import { nodeCronScheduler } from './node-cron-scheduler.js';
import { hostCollectors, PrometheusScrape } from './prometheus-scrape.js';

/** The operator surface besides the status endpoint: Prometheus /metrics and CloudWatch. */
export interface OperatorSurface {
  readonly agentMetrics: AgentMetrics;
  /** Prometheus /metrics listener; undefined: off. */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
  readonly renderMetrics: () => Promise<string>;
  /** Called once the adapters are loaded (the container stats come with dockerode). */
  readonly onAdapters: (adapters: { readonly containerStats?: ContainerStats }) => void;
  /** `enhanced_cloudwatch_metrics`, built once the config and the identity are known. */
  readonly enhancedCloudWatch: (
    enabled: boolean,
    identity: InstanceIdentity,
  ) => EnhancedCloudWatchMetrics | undefined;
}

export interface OperatorSurfaceOptions {
  readonly mode: 'ec2' | 'local';
  readonly metrics:
    | {
        readonly host: string;
        readonly port: number;
        readonly textfileDir: string | undefined;
        readonly procRoot: string;
      }
    | undefined;
  readonly cloudwatch:
    { readonly intervalSeconds: number; readonly endpoint: string | undefined } | undefined;
  readonly state: AgentState;
  readonly errors: ErrorReporter;
  readonly log: Logger;
}

/**
 * Builds /metrics and enhanced CloudWatch metrics. The agent loads this module after its status
 * endpoint is up (prom-client and node-cron are not on the path to "status ready").
 */
export function createOperatorSurface(options: OperatorSurfaceOptions): OperatorSurface {
  const { state, log, cloudwatch } = options;
  const agentMetrics = new AgentMetrics(state);
  const procRoot = options.metrics?.procRoot ?? '/proc';
  let containerStats: ContainerStats | undefined;
  const scrape = new PrometheusScrape({
    collectors: hostCollectors(procRoot, () => systemClock.now()),
    textfileDir: options.metrics?.textfileDir,
    container: new ContainerMetrics({
      state,
      stats: () => containerStats,
      clock: systemClock,
      log: log.child({ component: 'metrics' }),
    }),
    agent: agentMetrics,
  });
  return {
    agentMetrics,
    metricsListen: options.metrics,
    renderMetrics: () => scrape.render(),
    onAdapters: (adapters) => {
      containerStats = adapters.containerStats;
    },
    enhancedCloudWatch: (enabled, identity) =>
      // Local mode has no instance to report on and no AWS credentials.
      options.mode !== 'ec2' || cloudwatch === undefined
        ? undefined
        : new EnhancedCloudWatchMetrics({
            enabled,
            intervalSeconds: cloudwatch.intervalSeconds,
            // Without the ASG tag in IMDS only the InstanceId series is sent.
            identity: {
              instanceId: identity.instanceId,
              autoScalingGroupName: identity.autoScalingGroupName,
            },
            sample: async (signal) => ({
              meminfo: await readMeminfo(procRoot, signal),
              filesystems: await readFilesystems(procRoot, signal),
            }),
            publisher: async () => {
              const { AwsCloudWatchPublisher } = await import('./aws-cloudwatch-publisher.js');
              return new AwsCloudWatchPublisher({ region: identity.region, endpoint: cloudwatch.endpoint });
            },
            scheduler: nodeCronScheduler,
            clock: systemClock,
            log: log.child({ component: 'cloudwatch' }),
            state,
            errors: options.errors,
            metrics: agentMetrics,
          }),
  };
}
