import { startLogShipping } from './compose-logs.js';
import { systemClock } from '../core/clock.js';
import { whenLoaded } from '../core/when-loaded.js';
import { createLogger, type Logger } from '../core/logger.js';
import { Redactor } from '../core/redactor.js';
import { AgentLogSource } from '../logs/agent-log-source.js';
import { readDefaults } from '../config/load-config.js';
import { ImdsInstanceMetadata } from '../metadata/imds-instance-metadata.js';
import { LocalInstanceMetadata } from '../metadata/local-instance-metadata.js';
import { DevKeySecretDecrypter, loadOrCreateDevKey } from '../secrets/local-dev-key.js';
import type { EcrTokenSource } from '../docker/ecr-token-source.js';
import { PIERONE_TRUST_POLICY } from '../docker/registry-trust.js';
import type { LoadBalancerHealth } from '../loadbalancer/load-balancer-health.js';
import type { SecretDecrypter } from '../secrets/secret-decrypter.js';
import { AgentState } from '../status/agent-state.js';
import { AgentErrorReporter } from '../status/error-reporter.js';
import { BootTimeline } from '../status/boot-timeline.js';
import { VERSION } from '../version.js';
import { instrumentDecrypter, instrumentRuntime } from '../metrics/instrumented-ports.js';
import type { OperatorSurface } from '../metrics/operator-surface.js';
import { Agent, type HeavyAdapters } from './agent.js';
import { BOOT_STEPS } from './boot.js';
import { composeAgentAudit, composeBootHooks } from './compose-audit.js';
import type { AgentSettings } from './settings.js';
import type { HostPreparation } from './compose-host.js';
import { DEFAULT_HOST_PATHS } from '../docker/container-spec.js';
import type { HostPower } from '../lifecycle/host-power.js';
import { hostBootStartedAt } from '../lifecycle/host-boot-marker.js';
import { NullHostPower } from '../lifecycle/null-host-power.js';
import { RecordingHostPower } from '../lifecycle/recording-host-power.js';
import { SystemdHostPower } from '../lifecycle/systemd-host-power.js';

/**
 * The composition root: the only place that picks adapters. EC2 mode talks to IMDSv2 and KMS;
 * local mode swaps in the config file and the local dev key — the boot itself is the same.
 */
export async function composeAgent(
  settings: AgentSettings,
  processStartedAt: number,
): Promise<{ agent: Agent; log: Logger }> {
  const redactor = new Redactor();
  const local = settings.local;
  // EC2 mode: the agent's own log is also a log source (`cloudwatch_logs: /var/log/taupage.log`);
  // the lines before the pipeline starts wait in its bounded buffer.
  const agentLog = local === undefined ? new AgentLogSource() : undefined;
  const log = createLogger({
    level: settings.logLevel,
    redactor,
    ...(agentLog === undefined ? {} : { tee: agentLog }),
  });
  const clock = systemClock;

  const metadata =
    local === undefined
      ? new ImdsInstanceMetadata({
          baseUrl: settings.imdsUrl,
          clock,
          log: log.child({ component: 'imds' }),
          budgetMs: settings.imdsBudgetMs,
        })
      : new LocalInstanceMetadata(local.configFile, local.region);

  // dockerode and the AWS SDK are most of the bundle: they load after the status endpoint is
  // up, so operators see the agent at once (each is its own chunk, compiled only when imported).
  const loadAdapters = async (): Promise<HeavyAdapters> => {
    const { DockerodeContainerRuntime } = await import('../docker/dockerode-container-runtime.js');
    const { DockerodeContainerStats } = await import('../docker/dockerode-container-stats.js');
    const { DockerodeContainerEvents } = await import('../docker/dockerode-container-events.js');
    let secretDecrypter: (identity: { region: string }) => SecretDecrypter;
    if (local === undefined) {
      // The KMS client (~100 ms to load and compile) only when a value is encrypted: most
      // configs have none, and this sits on the boot's critical path.
      secretDecrypter = (identity) => {
        let kms: Promise<SecretDecrypter> | undefined;
        return {
          decrypt: async (ciphertext, signal) => {
            kms ??= import('../secrets/kms-secret-decrypter.js').then(
              ({ KmsSecretDecrypter }) =>
                new KmsSecretDecrypter({ region: identity.region, endpoint: settings.kmsEndpoint }),
            );
            return (await kms).decrypt(ciphertext, signal);
          },
        };
      };
    } else {
      const key = await loadOrCreateDevKey(local.devKeyFile);
      secretDecrypter = () => new DevKeySecretDecrypter(key);
    }
    const runtime = new DockerodeContainerRuntime();
    const metrics = operator?.agentMetrics;
    // ECR logins and the load balancer gate exist only on EC2 (they need the instance role).
    // Their SDK clients load on first use: most boots need neither.
    let ecr: Promise<EcrTokenSource> | undefined;
    const aws =
      local === undefined
        ? {
            registries: {
              ecr: {
                token: async (region: string, abort: AbortSignal) => {
                  ecr ??= import('../docker/aws-ecr-token-source.js').then(
                    ({ AwsEcrTokenSource }) => new AwsEcrTokenSource(settings.ecrEndpoint),
                  );
                  return (await ecr).token(region, abort);
                },
              },
              identityDocumentRegistries: new Set(settings.identityDocumentRegistries),
              trustPolicy: settings.requireTrustedImages ? PIERONE_TRUST_POLICY : undefined,
            },
            loadBalancerHealth: (identity: { region: string }): LoadBalancerHealth => {
              let health: Promise<LoadBalancerHealth> | undefined;
              return {
                targetHealth: async (target, instanceId, abort) => {
                  health ??= import('../loadbalancer/aws-load-balancer-health.js').then(
                    ({ AwsLoadBalancerHealth }) =>
                      new AwsLoadBalancerHealth({ region: identity.region, endpoint: settings.elbEndpoint }),
                  );
                  return (await health).targetHealth(target, instanceId, abort);
                },
              };
            },
          }
        : {};
    return {
      runtime: metrics === undefined ? runtime : instrumentRuntime(runtime, metrics),
      secretDecrypter: (identity) =>
        metrics === undefined
          ? secretDecrypter(identity)
          : instrumentDecrypter(secretDecrypter(identity), metrics),
      containerStats: new DockerodeContainerStats(),
      containerEvents: new DockerodeContainerEvents(),
      ...aws,
    };
  };

  const state = new AgentState(new BootTimeline(clock, BOOT_STEPS), {
    version: VERSION.version,
    commit: VERSION.commit,
    mode: settings.mode,
    startedAt: new Date(processStartedAt).toISOString(),
  });
  if (agentLog !== undefined) state.agentLogBuffer = () => agentLog.status();
  // prom-client and node-cron load after the status endpoint is up, like dockerode and the SDK.
  let operator: OperatorSurface | undefined;
  const loadOperator = async (): Promise<OperatorSurface> => {
    const { createOperatorSurface } = await import('../metrics/operator-surface.js');
    operator = createOperatorSurface({
      mode: settings.mode,
      metrics: settings.metrics,
      cloudwatch: settings.cloudwatch,
      state,
      errors,
      log,
    });
    return operator;
  };

  // Marked at every start, so the first agent run of a host boot sets it (see host-boot-marker.ts).
  const bootStartedAt =
    settings.bootMarkerDir === undefined
      ? undefined
      : await hostBootStartedAt(settings.bootMarkerDir, processStartedAt, {
          log: log.child({ component: 'lifecycle' }),
        });

  const audit =
    settings.audit === undefined ? undefined : await composeAgentAudit(settings.audit, { clock, log, state });
  const errors = new AgentErrorReporter({ state, redactor, clock, audit });

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
  let hostPreparation: Promise<HostPreparation> | undefined;
  const loadHost = (): Promise<HostPreparation> =>
    (hostPreparation ??= import('./compose-host.js').then(
      ({ HostPreparation: Preparation }) =>
        new Preparation({
          settings: settings.host,
          metaDir: settings.metaDir,
          applicationUser: settings.applicationUser,
          imds: metadata instanceof ImdsInstanceMetadata ? metadata : undefined,
          loadScheduler: async () => (await import('../metrics/node-cron-scheduler.js')).nodeCronScheduler,
          clock,
          log,
          errors,
        }),
    ));

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
          hostPreparation,
          (host) => {
            host.stop();
          },
          (error: unknown) => {
            log.warn({ err: error }, "Could not stop the host's background tasks");
          },
        );
      },
    },
    lifecycleAction:
      local === undefined
        ? (config, identity) => {
            const hookName = config.lifecycleHook;
            if (hookName === undefined) return undefined;
            return async (signal) => {
              const { AwsAutoScalingLifecycleAction } =
                await import('../host/aws-autoscaling-lifecycle-action.js');
              const action = new AwsAutoScalingLifecycleAction({
                region: identity.region,
                endpoint: settings.host.autoScalingEndpoint,
              });
              try {
                await action.complete(
                  {
                    hookName,
                    instanceId: identity.instanceId,
                    autoScalingGroupName: identity.autoScalingGroupName,
                  },
                  signal,
                );
              } finally {
                action.destroy();
              }
            };
          }
        : undefined,
    ...(audit === undefined ? {} : { audit }),
    hooks,
    metadata,
    loadAdapters,
    startLogShipping: (config, identity) =>
      startLogShipping({
        config,
        identity,
        containerName: settings.containerName,
        stateDir: settings.logStateDir,
        cloudWatchLogsEndpoint: settings.cloudWatchLogsEndpoint,
        s3Endpoint: settings.s3LogsEndpoint,
        // Local mode: the app output goes to a file next to the spool, not to AWS.
        localFileDir: local === undefined ? undefined : settings.logStateDir,
        agentLog,
        redactor,
        log: log.child({ component: 'logs' }),
      }),
    createStackSignaller:
      local === undefined
        ? async (identity) => {
            const { AwsCloudFormationSignaller } =
              await import('../cloudformation/aws-cloudformation-signaller.js');
            return new AwsCloudFormationSignaller(
              { region: identity.region, endpoint: settings.cloudFormationEndpoint },
              clock,
            );
          }
        : undefined,
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
      hostPaths: { ...DEFAULT_HOST_PATHS, customLog: settings.host.customLogDir },
      ...(settings.mutableTags === undefined ? {} : { mutableTags: settings.mutableTags }),
    },
    statusListen: { host: settings.statusHost, port: settings.statusPort },
    removeContainerOnExit: local !== undefined && !local.keepContainer,
    hostPower: hostPower(settings.hostPower, log),
    hostBootedAt: () => Promise.resolve(bootStartedAt),
    lastSeenFile: settings.supervisorStateFile,
    healthMonitor: settings.healthMonitor,
    processStartedAt,
    loadOperator,
  });
  return { agent, log };
}

/** `--host-power`: systemd on EC2, a recording double for tests, nothing in local mode. */
function hostPower(choice: string, log: Logger): HostPower {
  if (choice.startsWith('record:')) return new RecordingHostPower(choice.slice('record:'.length));
  if (choice === 'off') return new NullHostPower(log.child({ component: 'lifecycle' }));
  return new SystemdHostPower();
}
