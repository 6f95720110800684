import type { TaupageConfig } from '../config/taupage-config.js';
import { isTaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import type { ContainerSpec } from '../docker/container-runtime.js';
import { buildContainerSpec } from '../docker/container-spec.js';
import { waitForDocker } from '../docker/ensure-image.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { ConfigSecrets } from '../secrets/decrypt-config-secrets.js';
import { stopTimeoutSeconds, type BootDependencies, type BootSettings } from './boot.js';
import { CONTAINER_LABELS } from '../docker/container-spec.js';
import type { ContainerInfo } from '../docker/container-runtime.js';
import type { BootStepRecord } from '../status/boot-timeline.js';

/**
 * The app container's spec from the config and the AMI settings: the boot creates the container
 * from it, the supervisor recreates a removed one from the same (same host paths, so identical).
 */
export function containerSpecFor(
  config: TaupageConfig,
  digest: string,
  settings: BootSettings,
  secrets: ConfigSecrets,
  instance: InstanceIdentity | undefined,
): ContainerSpec {
  return buildContainerSpec(
    config,
    digest,
    {
      containerName: settings.containerName,
      metaDir: settings.metaDir,
      applicationUser: settings.applicationUser,
      ...(settings.hostPaths === undefined ? {} : { hostPaths: settings.hostPaths }),
      containerUser: settings.containerUser,
      etcdUrl: settings.etcdUrl,
      instance,
    },
    secrets,
  );
}

/**
 * An engine error on create or start (DOCKER_SERVER_ERROR: Docker answered 5xx) is retried with
 * capped backoff within the boot, then ends it with exit 4 (restartable). Docker refusing the
 * container (CONTAINER_FAILED, 4xx) is not retried.
 */
export const CONTAINER_START_POLICY = {
  name: 'container',
  maxAttempts: 8,
  initialDelayMs: 1_000,
  maxDelayMs: 10_000,
  multiplier: 2,
  budgetMs: 60_000,
  jitter: true,
} as const satisfies RetryPolicy;

/**
 * The `container` step: adopt the container of the same config, else (re)create and start it.
 * A retry finds the container an earlier attempt created (same config digest) and starts that one.
 */
export async function startContainer(
  deps: BootDependencies,
  config: TaupageConfig,
  digest: string,
  secrets: ConfigSecrets,
  step: BootStepRecord,
  signal: AbortSignal,
): Promise<ContainerInfo> {
  const log = deps.log.child({ component: 'docker', container: deps.settings.containerName });
  return retry(
    () => createOrAdopt(deps, config, digest, secrets, step, log, signal),
    CONTAINER_START_POLICY,
    {
      clock: deps.clock,
      signal,
      isRetriable: (error) => isTaupageError(error) && error.code === 'DOCKER_SERVER_ERROR',
      onRetry: (error, attempt, delayMs) => {
        log.warn({ attempt, delayMs, err: error }, 'Docker engine error on create/start, trying again');
      },
    },
  );
}

async function createOrAdopt(
  deps: BootDependencies,
  config: TaupageConfig,
  digest: string,
  secrets: ConfigSecrets,
  step: BootStepRecord,
  log: Logger,
  signal: AbortSignal,
): Promise<ContainerInfo> {
  const { runtime, settings } = deps;
  const existing = await runtime.findContainer(settings.containerName, signal);
  const existingDigest = existing?.labels[CONTAINER_LABELS.configDigest];
  if (existing !== undefined && existingDigest === digest) {
    // Same config: an agent restart (container running: adopt it, untouched) or a reboot
    // (container stopped: start it) — never a duplicate.
    const adopted = await adoptOrStart(deps, existing, step, signal);
    deps.state.containerObserved(adopted);
    return adopted;
  }
  if (existing !== undefined) {
    // The config changed since the container was created (new user data after a stop/start):
    // the original started the old container anyway and silently ignored the change.
    log.info(
      { id: existing.id, containerDigest: existingDigest, digest },
      'Config changed: replacing the container',
    );
    await runtime.stopContainer(existing.id, stopTimeoutSeconds(config), signal);
    await runtime.removeContainer(existing.id, signal);
  }
  const spec = containerSpecFor(config, digest, settings, secrets, deps.state.identity);
  const created = await runtime.createContainer(spec, signal);
  log.info({ id: created.id }, 'Created container');
  await runtime.startContainer(created.id, signal);
  const container = (await runtime.inspectContainer(created.id, signal)) ?? created;
  step.detail = `${existing === undefined ? 'created' : 'config changed: replaced'} and started ${created.id.slice(0, 12)}`;
  log.info({ id: created.id }, 'Started container');
  deps.state.containerObserved(container);
  return container;
}

export const MAINTENANCE = 'maintenance: the app is not started';

export async function stopForMaintenance(
  deps: BootDependencies,
  config: TaupageConfig,
  step: BootStepRecord,
  signal: AbortSignal,
): Promise<void> {
  const log = deps.log.child({ component: 'docker', container: deps.settings.containerName });
  const existing = await waitForDocker(
    deps,
    log,
    () => deps.runtime.findContainer(deps.settings.containerName, signal),
    signal,
  );
  deps.state.containerObserved(existing);
  if (existing === undefined || (existing.state !== 'running' && existing.state !== 'restarting')) {
    step.detail = MAINTENANCE;
    log.warn('Maintenance: not starting the app');
    return;
  }
  // Docker's restart policy may have started it on its own at boot: stop it, keep it for later.
  await deps.runtime.stopContainer(existing.id, stopTimeoutSeconds(config), signal);
  deps.state.containerObserved((await deps.runtime.inspectContainer(existing.id, signal)) ?? existing);
  step.detail = `${MAINTENANCE}; stopped ${existing.id.slice(0, 12)} (kept)`;
  log.warn({ id: existing.id }, 'Maintenance: stopped the running app container (kept)');
}

async function adoptOrStart(
  deps: BootDependencies,
  existing: ContainerInfo,
  step: BootStepRecord,
  signal: AbortSignal,
): Promise<ContainerInfo> {
  const log = deps.log.child({ component: 'docker', container: existing.name });
  if (existing.state === 'running' || existing.state === 'restarting') {
    step.detail = `adopted ${existing.state} container ${existing.id.slice(0, 12)}`;
    log.info({ id: existing.id, state: existing.state }, 'Adopted running container');
    return existing;
  }
  // Exited since this host booted: only the agent restarted. The original ran the app once per
  // boot, so a finished job (or an app Docker gave up on) stays as it is — the supervisor
  // reports it and `shutdown:` decides. Exited before this boot: a reboot, start it again.
  const bootedAt = await deps.hostBootedAt?.();
  const finishedAt = existing.finishedAt === undefined ? Number.NaN : Date.parse(existing.finishedAt);
  if (bootedAt !== undefined && finishedAt >= bootedAt) {
    step.detail = `left container ${existing.id.slice(0, 12)} exited (code ${existing.exitCode ?? '?'}) since this host booted`;
    log.info(
      { id: existing.id, exitCode: existing.exitCode },
      'Container exited during this host boot; not starting it again',
    );
    return existing;
  }
  await deps.runtime.startContainer(existing.id, signal);
  step.detail = `started existing container ${existing.id.slice(0, 12)}`;
  log.info({ id: existing.id }, 'Started existing container');
  return (await deps.runtime.inspectContainer(existing.id, signal)) ?? existing;
}
