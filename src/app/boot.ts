import type { Clock } from '../core/clock.js';
import { TaupageError, toTaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import { signalTargetOf } from '../cloudformation/signal-target.js';
import type { LoadBalancerHealth } from '../loadbalancer/load-balancer-health.js';
import { waitForLoadBalancer } from '../loadbalancer/wait-for-load-balancer.js';
import { formatImageReference, type MutableTagPolicy } from '../config/image-reference.js';
import { formatIssue } from '../config/issues.js';
import { loadConfig } from '../config/load-config.js';
import { writeMetaConfig } from '../config/meta-file.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import type { ContainerInfo, ContainerRuntime } from '../docker/container-runtime.js';
import type { ContainerHostPaths } from '../docker/container-spec.js';
import { MAINTENANCE, startContainer, stopForMaintenance } from './app-container.js';
import { ensureImage, type RegistryAccess } from '../docker/ensure-image.js';
import { waitForHealthGate } from '../health/docker-health-check.js';
import type { InstanceIdentity, InstanceMetadata } from '../metadata/instance-metadata.js';
import { ConfigSecrets, decryptConfigSecrets } from '../secrets/decrypt-config-secrets.js';
import type { SecretDecrypter } from '../secrets/secret-decrypter.js';
import type { AgentState } from '../status/agent-state.js';
import { formatDuration, type BootStepRecord } from '../status/boot-timeline.js';

export { DOCKER_WAIT_POLICY, PULL_RETRY_POLICY, type RegistryAccess } from '../docker/ensure-image.js';

export { BOOT_STEPS } from './boot-steps.js';

/** Grace between SIGTERM and SIGKILL when `docker.stop_timeout` is not set (Docker's own default). */
export const DEFAULT_STOP_TIMEOUT_SECONDS = 10;

/** How long the app gets to stop whenever the agent stops it (config change, maintenance, shutdown). */
export function stopTimeoutSeconds(config: TaupageConfig): number {
  return config.docker.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS;
}

export interface BootSettings {
  readonly defaults: Readonly<Record<string, unknown>>;
  readonly metaDir: string;
  readonly containerName: string;
  readonly applicationUser: string;
  readonly pullInactivityTimeoutMs: number;
  readonly healthCheckHost: string;
  /** The AMI's policy for mutable image tags (`--mutable-tags`); `reject` when absent. */
  readonly mutableTags?: MutableTagPolicy;
  /** AMI host paths the container options bind (mount_*, docker_daemon_access, mounts). */
  readonly hostPaths?: ContainerHostPaths;
  /** `--user` of the app (undefined: the uid of applicationUser) and its ETCD_URL. */
  readonly containerUser?: string | undefined;
  readonly etcdUrl?: string | undefined;
}

export interface BootDependencies {
  readonly metadata: InstanceMetadata;
  /** KMS needs the region, known only after the imds step. */
  readonly secretDecrypter: (identity: InstanceIdentity) => SecretDecrypter;
  readonly runtime: ContainerRuntime;
  readonly clock: Clock;
  readonly log: Logger;
  readonly redactor: Redactor;
  readonly state: AgentState;
  readonly settings: BootSettings;
  readonly registries?: RegistryAccess;
  /** The load balancer API for `healthcheck: {type: elb|alb}`; needs the region. */
  readonly loadBalancerHealth?: (identity: InstanceIdentity) => LoadBalancerHealth;
  /** When the host booted (ms since the epoch); undefined: unknown, an exited container is started. */
  readonly hostBootedAt?: () => Promise<number | undefined>;
  /** The `host` step (compose-host.ts); undefined: skipped (unit tests of the other steps). */
  readonly host?: {
    prepare(config: TaupageConfig, identity: InstanceIdentity, signal: AbortSignal): Promise<string>;
  };
  /** Host work that needs the config but is not the app's (sshd, audit sinks); see BootHooks. */
  readonly hooks?: BootHooks;
}

/**
 * Called inside the boot as soon as what they need is known, so they also happen when a later
 * step fails (an operator needs SSH most when the app does not come up). They never throw: each
 * reports its own errors.
 */
export interface BootHooks {
  /** After the config step: sshd from ssh_ports & co., the launch key pair's logins. */
  readonly afterConfig?: (config: TaupageConfig, identity: InstanceIdentity) => Promise<void>;
  /** After the kms step: sinks whose credentials may be aws:kms: (log-sink). */
  readonly afterSecrets?: (
    config: TaupageConfig,
    identity: InstanceIdentity,
    secrets: ConfigSecrets,
  ) => Promise<void>;
}

export interface BootResult {
  readonly config: TaupageConfig;
  /** undefined in maintenance (`maintenance: true`): the app is not started. */
  readonly container: ContainerInfo | undefined;
  /** Plaintexts of the config's aws:kms: values (resolve a ConfigValue with `secrets.resolve`). */
  readonly secrets: ConfigSecrets;
}

export async function boot(deps: BootDependencies, signal: AbortSignal): Promise<BootResult> {
  const { state, log } = deps;
  const timeline = state.timeline;

  const { identity, userData } = await timeline.run('imds', async (step) => {
    // Both in flight at once (one session token): the identity is needed only for KMS's region.
    const [identity, userData] = await Promise.all([
      deps.metadata.identity(signal),
      deps.metadata.userData(signal),
    ]);
    state.identified(identity);
    step.detail = `${identity.instanceId} in ${identity.region}, ${userData.length} bytes of user data`;
    return { identity, userData };
  });

  const { config, digest } = await timeline.run('config', (step) => loadAndWriteConfig(deps, userData, step));
  await deps.hooks?.afterConfig?.(config, identity);

  // Every aws:kms: value anywhere in the config (not only environment), one Decrypt per distinct
  // ciphertext; a value under a key taupage ignores may fail with only a warning.
  const secrets = await timeline.run('kms', async (step) => {
    const { secrets, skipped, decrypted } = await decryptConfigSecrets(config.encryptedValues, {
      decrypter: deps.secretDecrypter(identity),
      encryptionContext: config.encryptionContext,
      clock: deps.clock,
      redactor: deps.redactor,
      log: log.child({ component: 'kms' }),
      signal,
    });
    const failed = skipped.reduce((sum, entry) => sum + entry.paths.length, 0);
    const count = config.encryptedValues.length - failed;
    step.detail =
      config.encryptedValues.length === 0
        ? 'nothing to decrypt'
        : `decrypted ${count} value${count === 1 ? '' : 's'} (${decrypted} KMS call${decrypted === 1 ? '' : 's'})` +
          (failed === 0 ? '' : `; ${failed} under ignored keys could not be decrypted`);
    return secrets;
  });
  await deps.hooks?.afterSecrets?.(config, identity, secrets);

  // Before the app (its mounts, credentials and kernel settings must be there when it starts),
  // and in maintenance too: an operator repairing the host needs the volumes mounted.
  const host = deps.host;
  if (host === undefined) timeline.skip('host', 'no host preparation here');
  else
    await timeline.run('host', async (step) => {
      step.detail = await host.prepare(config, identity, signal);
    });

  if (config.maintenance) {
    // Everything up to here ran (config, secrets, and after the boot status, SSH, logs); the app
    // does not: no pull (a broken image may be why), a running container is stopped, kept.
    timeline.skip('pull', MAINTENANCE);
    await timeline.run('container', (step) => stopForMaintenance(deps, config, step, signal));
    timeline.skip('health', MAINTENANCE);
    timeline.skip('loadbalancer', MAINTENANCE);
    return { config, container: undefined, secrets };
  }

  await timeline.run('pull', (step) => ensureImage(deps, config, secrets, step, signal));

  const container = await timeline.run('container', (step) =>
    startContainer(deps, config, digest, secrets, step, signal),
  );

  // The image's own HEALTHCHECK gates the boot too (Docker reports its status while it runs).
  const dockerHealth =
    container.health === undefined ? undefined : { runtime: deps.runtime, containerId: container.id };
  if (config.healthCheck === undefined && dockerHealth === undefined) {
    timeline.skip('health', 'no health_check_path configured and no HEALTHCHECK in the image');
    state.health.nothingToCheck();
  } else {
    const { healthCheck } = config;
    const url =
      healthCheck === undefined
        ? undefined
        : `http://${deps.settings.healthCheckHost}:${healthCheck.port}${healthCheck.path}`;
    state.health.checking(url, dockerHealth !== undefined);
    const startedAt = deps.clock.now();
    const gate = (ok: boolean, detail: string) => {
      state.health.bootGate({ ok, detail, at: deps.clock.now(), durationMs: deps.clock.now() - startedAt });
    };
    await timeline
      .run('health', async (step) => {
        step.detail = await waitForHealthGate({
          url,
          dockerHealth,
          timeoutMs: config.healthCheckTimeoutSeconds * 1000,
          clock: deps.clock,
          signal,
        });
        gate(true, step.detail);
      })
      .catch((error: unknown) => {
        if (!signal.aborted) gate(false, toTaupageError(error).message);
        throw error;
      });
  }
  const target = config.loadBalancerHealthCheck;
  const createHealth = deps.loadBalancerHealth;
  if (target === undefined || createHealth === undefined) {
    timeline.skip(
      'loadbalancer',
      target === undefined ? 'no healthcheck: elb/alb configured' : 'no load balancer here (local mode)',
    );
  } else {
    await timeline.run('loadbalancer', async (step) => {
      const result = await waitForLoadBalancer({
        health: createHealth(identity),
        target,
        instanceId: identity.instanceId,
        clock: deps.clock,
        log: log.child({ component: 'loadbalancer' }),
        signal,
      });
      step.detail = `in service after ${result.polls} poll${result.polls === 1 ? '' : 's'}: ${result.detail}`;
    });
  }
  return { config, container, secrets };
}

async function loadAndWriteConfig(deps: BootDependencies, userData: Buffer, step: BootStepRecord) {
  const { validation, merged } = loadConfig(userData, deps.settings.defaults, {
    mutableTags: deps.settings.mutableTags,
  });
  deps.state.signalTargetKnown(signalTargetOf(merged));
  const log = deps.log.child({ component: 'config' });
  for (const warning of validation.warnings)
    log.warn({ path: warning.path, line: warning.line }, formatIssue(warning));
  deps.state.configValidated(validation.warnings.map(formatIssue));
  if (validation.config === undefined) {
    for (const error of validation.errors)
      log.error({ path: error.path, line: error.line }, formatIssue(error));
    const first = validation.errors[0];
    const more = validation.errors.length > 1 ? ` (and ${validation.errors.length - 1} more)` : '';
    throw new TaupageError(
      'CONFIG_INVALID',
      `Invalid TaupageConfig: ${first === undefined ? 'unknown error' : formatIssue(first)}${more}`,
    );
  }
  const { config } = validation;
  deps.state.applicationKnown({
    id: config.applicationId,
    version: config.applicationVersion,
    image: formatImageReference(config.source),
    configDigest: validation.digest,
  });
  const groupId = Number(deps.settings.applicationUser.split(':')[1]);
  const path = await writeMetaConfig(
    deps.settings.metaDir,
    merged,
    Number.isInteger(groupId) ? groupId : undefined,
  );
  step.detail = `${validation.warnings.length} warning(s), written to ${path}`;
  log.info({ digest: validation.digest, path }, 'Config valid');
  return { config, digest: validation.digest };
}

export function bootSummary(totalMs: number | undefined, summary: string): string {
  return `Boot completed in ${formatDuration(totalMs ?? 0)}: ${summary}`;
}
