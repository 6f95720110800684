import { systemClock } from '../core/clock.js';
import { createLogger, type Logger } from '../core/logger.js';
import { Redactor } from '../core/redactor.js';
import { readDefaults } from '../config/load-config.js';
import { ImdsInstanceMetadata } from '../metadata/imds-instance-metadata.js';
import { LocalInstanceMetadata } from '../metadata/local-instance-metadata.js';
import { DevKeySecretDecrypter, loadOrCreateDevKey } from '../secrets/local-dev-key.js';
import type { SecretDecrypter } from '../secrets/secret-decrypter.js';
import { AgentState } from '../status/agent-state.js';
import { BootTimeline } from '../status/boot-timeline.js';
import { VERSION } from '../version.js';
import { Agent, type HeavyAdapters } from './agent.js';
import { BOOT_STEPS } from './boot.js';
import type { AgentSettings } from './settings.js';

/**
 * The composition root: the only place that picks adapters. EC2 mode talks to IMDSv2 and KMS;
 * local mode swaps in the config file and the local dev key — the boot itself is the same.
 */
export async function composeAgent(
  settings: AgentSettings,
  processStartedAt: number,
): Promise<{ agent: Agent; log: Logger }> {
  const redactor = new Redactor();
  const log = createLogger({ level: settings.logLevel, redactor });
  const clock = systemClock;
  const local = settings.local;

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
  // up, so operators see the agent at once (dynamic imports stay inside the one-file bundle).
  const loadAdapters = async (): Promise<HeavyAdapters> => {
    const { DockerodeContainerRuntime } = await import('../docker/dockerode-container-runtime.js');
    let secretDecrypter: (identity: { region: string }) => SecretDecrypter;
    if (local === undefined) {
      const { KmsSecretDecrypter } = await import('../secrets/kms-secret-decrypter.js');
      secretDecrypter = (identity) =>
        new KmsSecretDecrypter({ region: identity.region, endpoint: settings.kmsEndpoint });
    } else {
      const key = await loadOrCreateDevKey(local.devKeyFile);
      secretDecrypter = () => new DevKeySecretDecrypter(key);
    }
    return { runtime: new DockerodeContainerRuntime(), secretDecrypter };
  };

  const state = new AgentState(new BootTimeline(clock, BOOT_STEPS), {
    version: VERSION.version,
    commit: VERSION.commit,
    mode: settings.mode,
    startedAt: new Date(processStartedAt).toISOString(),
  });

  const agent = new Agent({
    metadata,
    loadAdapters,
    clock,
    log,
    redactor,
    state,
    settings: {
      defaults: await readDefaults(settings.defaultsFile),
      metaDir: settings.metaDir,
      containerName: settings.containerName,
      applicationUser: settings.applicationUser,
      pullInactivityTimeoutMs: settings.pullInactivityTimeoutMs,
      healthCheckHost: '127.0.0.1',
    },
    statusListen: { host: settings.statusHost, port: settings.statusPort },
    removeContainerOnExit: local !== undefined && !local.keepContainer,
    processStartedAt,
  });
  return { agent, log };
}
