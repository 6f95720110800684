import { startLogShipping } from './compose-logs.js';
import { bootHealthPredicate, startEtcdRegistration, startLocalEtcd } from './compose-etcd.js';
import { INTEGRATION_DEFAULTS } from './integration-settings.js';
import { systemClock } from '../core/clock.js';
import { lazy } from '../core/lazy.js';
import { whenLoaded } from '../core/when-loaded.js';
import { createLogger, type Logger } from '../core/logger.js';
import { Redactor } from '../core/redactor.js';
import { readDefaults } from '../config/load-config.js';
import { AgentErrorReporter } from '../status/error-reporter.js';
import { instrumentDecrypter, instrumentRuntime } from '../metrics/instrumented-ports.js';
import { Agent, type HeavyAdapters } from './agent.js';
import { composeAgentAudit, composeBootHooks } from './compose-audit.js';
import type { AgentSettings } from './settings.js';
import { DEFAULT_HOST_PATHS } from '../docker/container-spec.js';
import type { AgentMetrics } from '../metrics/agent-metrics.js';
import { platformFor } from './platform.js';
import { adoptStatusFirst, initialAgentState, type StatusFirst } from './status-endpoint.js';

/**
 * The composition root: builds the object graph once. What differs between EC2 and local mode
 * comes from the platform (ec2-platform.ts, local-platform.ts); the boot itself is the same.
 * `statusFirst`: the state and status endpoint `taupage agent` opened before this loaded
 * (cli/status-first.ts); kept when they are for these settings, else closed.
 */
export async function composeAgent(
  settings: AgentSettings,
  processStartedAt: number,
  statusFirst?: StatusFirst,
): Promise<{ agent: Agent; log: Logger }> {
  const clock = systemClock;
  const platform = platformFor(settings, clock);
  const first = await adoptStatusFirst(statusFirst, platform.mode, {
    host: settings.statusHost,
    port: settings.statusPort,
  });
  const redactor = first?.redactor ?? new Redactor();
  const agentLog = platform.agentLog;
  const log = createLogger({
    level: settings.logLevel,
    redactor,
    ...(agentLog === undefined ? {} : { tee: agentLog }),
  });
  const metadata = platform.metadata({ clock, log });

  const state = first?.state ?? initialAgentState(clock, platform.mode, processStartedAt);
  if (agentLog !== undefined) state.agentLogBuffered(() => agentLog.status());
  const audit =
    settings.audit === undefined ? undefined : await composeAgentAudit(settings.audit, { clock, log, state });
  const errors = new AgentErrorReporter({ state, redactor, clock, audit });

  // dockerode and the AWS SDK are most of the bundle: they load after the status endpoint is
  // up, so operators see the agent at once (each is its own chunk, compiled only when imported).
  const loadAdapters = async (metrics: AgentMetrics | undefined): Promise<HeavyAdapters> => {
    const { DockerodeContainerRuntime } = await import('../docker/dockerode-container-runtime.js');
    const { DockerodeContainerStats } = await import('../docker/dockerode-container-stats.js');
    const { DockerodeContainerEvents } = await import('../docker/dockerode-container-events.js');
    const secretDecrypter = await platform.secretDecrypter();
    const runtime = new DockerodeContainerRuntime();
    return {
      runtime: metrics === undefined ? runtime : instrumentRuntime(runtime, metrics),
      secretDecrypter: (identity) =>
        metrics === undefined
          ? secretDecrypter(identity)
          : instrumentDecrypter(secretDecrypter(identity), metrics),
      containerStats: new DockerodeContainerStats(),
      containerEvents: new DockerodeContainerEvents(),
    };
  };

  // prom-client and node-cron load after the status endpoint is up, like dockerode and the SDK.
  const loadOperator = lazy(async () => {
    const { createOperatorSurface } = await import('../metrics/operator-surface.js');
    return createOperatorSurface({
      mode: platform.mode,
      metrics: settings.metrics,
      cloudwatch: settings.cloudwatch,
      state,
      errors,
      log,
    });
  });

  const bootStartedAt = await platform.hostBootStartedAt(processStartedAt, log);

  const hooks = composeBootHooks({
    sshd: settings.sshd,
    audit,
    auditSettings: settings.audit,
    metaDir: settings.metaDir,
    clock,
    log,
    errors,
  });

  // Host preparation loads on first use (the boot's host step), not on the start-up path.
  const loadHost = lazy(async () => {
    const { HostPreparation } = await import('./compose-host.js');
    return new HostPreparation({
      settings: settings.host,
      metaDir: settings.metaDir,
      applicationUser: settings.applicationUser,
      imds: metadata.host,
      loadScheduler: async () => (await import('../metrics/node-cron-scheduler.js')).nodeCronScheduler,
      clock,
      log,
      errors,
    });
  });

  const agent = new Agent({
    host: {
      prepare: async (config, identity, signal) => (await loadHost()).prepare(config, identity, signal),
    },
    hostLifecycle: {
      start: async (onTermination) => {
        await (await loadHost()).start(onTermination);
      },
      stop: () => {
        void whenLoaded(
          loadHost.started,
          (host) => {
            host.stop();
          },
          (error: unknown) => {
            log.warn({ err: error }, "Could not stop the host's background tasks");
          },
        );
      },
    },
    lifecycleAction: platform.lifecycleAction,
    // ECR logins and the load balancer gate exist only on EC2 (they need the instance role).
    ...(platform.registries === undefined ? {} : { registries: platform.registries }),
    ...(platform.loadBalancerHealth === undefined ? {} : { loadBalancerHealth: platform.loadBalancerHealth }),
    ...(audit === undefined ? {} : { audit }),
    hooks,
    metadata: metadata.instance,
    loadAdapters,
    startLogShipping: (config, identity, secrets) =>
      startLogShipping({
        config,
        identity,
        secrets,
        scalyrEndpoint: settings.scalyrEndpoint,
        logentriesEndpoint: settings.logentriesEndpoint,
        containerName: settings.containerName,
        stateDir: settings.logStateDir,
        cloudWatchLogsEndpoint: settings.cloudWatchLogsEndpoint,
        s3Endpoint: settings.s3LogsEndpoint,
        localFileDir: platform.localLogFileDir,
        // EC2 mode only: local mode writes the app output next to the spool instead.
        ...(settings.integration?.applicationLog === undefined
          ? {}
          : {
              applicationLog: {
                path: settings.integration.applicationLog,
                containerId: () => state.container?.id,
                dockerPidFile: settings.integration.dockerPidFile,
              },
            }),
        agentLog,
        redactor,
        log: log.child({ component: 'logs' }),
      }),
    startEtcdRegistration: (config, identity) =>
      startEtcdRegistration({
        config,
        identity,
        endpoint: settings.integration?.etcdEndpoint ?? INTEGRATION_DEFAULTS.etcdEndpoint,
        metaDir: settings.metaDir,
        isHealthy: bootHealthPredicate(state),
        clock,
        log: log.child({ component: 'etcd' }),
      }),
    startLocalEtcd: (config, identity) => {
      const local = settings.integration?.localEtcd;
      return local === undefined
        ? undefined
        : startLocalEtcd({ config, identity, settings: local, clock, log: log.child({ component: 'etcd' }) });
    },
    createStackSignaller: platform.createStackSignaller,
    clock,
    log,
    redactor,
    state,
    errors,
    settings: {
      defaults: await readDefaults(settings.defaultsFile),
      metaDir: settings.metaDir,
      containerName: settings.containerName,
      applicationUser: settings.applicationUser,
      pullInactivityTimeoutMs: settings.pullInactivityTimeoutMs,
      healthCheckHost: '127.0.0.1',
      hostPaths: {
        ...DEFAULT_HOST_PATHS,
        customLog: settings.host.customLogDir,
        dockerCli: settings.integration?.dockerCli,
      },
      containerUser: settings.integration?.containerUser,
      etcdUrl: settings.integration?.etcdContainerUrl,
      ...(settings.mutableTags === undefined ? {} : { mutableTags: settings.mutableTags }),
    },
    statusListen: { host: settings.statusHost, port: settings.statusPort },
    statusEndpoint: first?.endpoint,
    removeContainerOnExit: platform.removeContainerOnExit,
    hostPower: platform.hostPower(log),
    hostBootedAt: () => Promise.resolve(bootStartedAt),
    lastSeenFile: settings.supervisorStateFile,
    healthMonitor: settings.healthMonitor,
    processStartedAt,
    loadOperator,
  });
  return { agent, log };
}
