import type { Clock } from '../core/clock.js';
import { isTaupageError, TaupageError, toTaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import { Secret } from '../core/secret.js';
import { signalTargetOf } from '../cloudformation/signal-target.js';
import type { EcrTokenSource } from '../docker/ecr-token-source.js';
import { RegistryAuthProvider } from '../docker/registry-auth-provider.js';
import { verifyImageTrusted, type TrustPolicy } from '../docker/registry-trust.js';
import type { LoadBalancerHealth } from '../loadbalancer/load-balancer-health.js';
import { waitForLoadBalancer } from '../loadbalancer/wait-for-load-balancer.js';
import { formatImageReference, mutableTagReason, type MutableTagPolicy } from '../config/image-reference.js';
import { decodeRegistryAuth } from '../config/keys/container-nodes.js';
import { formatIssue } from '../config/issues.js';
import { loadConfig } from '../config/load-config.js';
import { writeMetaConfig } from '../config/meta-file.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import type { ContainerInfo, ContainerRuntime, RegistryAuth } from '../docker/container-runtime.js';
import { CONTAINER_LABELS, type ContainerHostPaths } from '../docker/container-spec.js';
import { containerSpecFor } from './app-container.js';
import { waitForHealthGate } from '../health/docker-health-check.js';
import type { InstanceIdentity, InstanceMetadata } from '../metadata/instance-metadata.js';
import { ConfigSecrets, decryptConfigSecrets } from '../secrets/decrypt-config-secrets.js';
import type { SecretDecrypter } from '../secrets/secret-decrypter.js';
import type { AgentState } from '../status/agent-state.js';
import { formatDuration, type BootStepRecord } from '../status/boot-timeline.js';

/** The boot, in the order it runs. Each step is timed and reported (status, logs). */
export const BOOT_STEPS = [
  { name: 'imds', description: 'Read the instance identity and the user data' },
  { name: 'config', description: 'Merge onto the AMI defaults, validate, write taupage.yaml' },
  { name: 'kms', description: 'Decrypt aws:kms: values' },
  { name: 'host', description: 'Prepare the host: sysctl, sysfs, routes, disks, app credentials' },
  { name: 'pull', description: 'Make the Docker image available' },
  { name: 'container', description: 'Create or start the application container' },
  { name: 'health', description: 'Wait for the application health check' },
  { name: 'loadbalancer', description: 'Wait until the load balancer routes to the instance' },
] as const;

/**
 * Pull retry policy: a registry 5xx or a dropped connection is retried 5 times from 1 s,
 * doubling to 10 s (the ECS agent does 5 from 1.1 s); not-found and auth failures never are.
 */
export const PULL_RETRY_POLICY: RetryPolicy = {
  name: 'pull',
  maxAttempts: 5,
  initialDelayMs: 1_000,
  maxDelayMs: 10_000,
  multiplier: 2,
  jitter: true,
};

/** Grace between SIGTERM and SIGKILL when `docker.stop_timeout` is not set (Docker's own default). */
export const DEFAULT_STOP_TIMEOUT_SECONDS = 10;

/** How long the app gets to stop whenever the agent stops it (config change, maintenance, shutdown). */
export function stopTimeoutSeconds(config: TaupageConfig): number {
  return config.docker.stopTimeoutSeconds ?? DEFAULT_STOP_TIMEOUT_SECONDS;
}

/**
 * One pull may take this long in all (the ECS agent allows 2 h). 15 minutes is Senza's default
 * CreationPolicy timeout: a pull still running then has already failed the deployment.
 */
const PULL_DEADLINE_MS = 15 * 60_000;

/** How often a running pull is narrated in the log. */
const PULL_PROGRESS_LOG_INTERVAL_MS = 5_000;

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
}

/** How images are fetched, beyond the TaupageConfig's own `dockercfg` (AMI-level settings). */
export interface RegistryAccess {
  readonly ecr: EcrTokenSource | undefined;
  /** Registries that take the signed instance identity as a login (Pier One). */
  readonly identityDocumentRegistries: ReadonlySet<string>;
  /** Require this trust header on the manifest before pulling; undefined: no check. */
  readonly trustPolicy: TrustPolicy | undefined;
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

async function ensureImage(
  deps: BootDependencies,
  config: TaupageConfig,
  secrets: ConfigSecrets,
  step: BootStepRecord,
  signal: AbortSignal,
) {
  const reference = formatImageReference(config.source);
  const log = deps.log.child({ component: 'docker', image: reference });
  // Tags are immutable under the tag policy, so an image already present (baked into the AMI,
  // or from the previous boot) is the right one: no registry round trip. A mutable tag the
  // AMI's policy lets through may have moved: it is pulled again.
  const policy = config.imagePullPolicy;
  const refresh =
    policy === 'always' || (policy !== 'never' && mutableTagReason(config.source) !== undefined);
  if (!refresh && (await deps.runtime.imageExists(config.source, signal))) {
    step.detail = 'image already present, not pulled';
    log.info('Image already present, not pulling');
    return;
  }
  if (policy === 'never') {
    throw new TaupageError(
      'IMAGE_NOT_FOUND',
      `Image ${reference} is not present and image_pull_policy is never`,
    );
  }
  const auth =
    registryAuth(config, secrets, deps.redactor) ?? (await otherRegistryAuth(deps, config, signal));
  const trustPolicy = deps.registries?.trustPolicy;
  if (trustPolicy !== undefined) {
    await verifyImageTrusted(config.source, auth, trustPolicy, signal);
    log.info('Image is trusted for production');
  }
  let lastLog = deps.clock.now();
  log.info({ authenticated: auth !== undefined }, 'Pulling image');
  await retry(
    () =>
      deps.runtime.pullImage(config.source, {
        auth,
        signal,
        inactivityTimeoutMs: deps.settings.pullInactivityTimeoutMs,
        deadlineMs: PULL_DEADLINE_MS,
        onProgress: (progress) => {
          if (deps.clock.now() - lastLog < PULL_PROGRESS_LOG_INTERVAL_MS) return;
          lastLog = deps.clock.now();
          log.info({ downloadedBytes: progress.downloadedBytes }, 'Still pulling image');
        },
      }),
    PULL_RETRY_POLICY,
    {
      clock: deps.clock,
      signal,
      isRetriable: (error) => isTaupageError(error) && error.retriable,
      onRetry: (error, attempt, delayMs) => {
        log.warn(
          { attempt, delayMs, code: isTaupageError(error) ? error.code : undefined },
          'Pull failed, retrying',
        );
      },
    },
  );
  step.detail = 'pulled';
  log.info('Pulled image');
}

/** ECR and instance-identity logins, as the AMI configures them (dockercfg always wins). */
async function otherRegistryAuth(deps: BootDependencies, config: TaupageConfig, signal: AbortSignal) {
  const access = deps.registries;
  if (access === undefined) return undefined;
  const provider = new RegistryAuthProvider({
    basic: new Map(),
    ecr: access.ecr,
    identityDocumentRegistries: access.identityDocumentRegistries,
    identityDocument: (abort) => deps.metadata.identitySignature(abort),
    clock: deps.clock,
  });
  return provider.authFor(config.source, signal);
}

function registryAuth(
  config: TaupageConfig,
  secrets: ConfigSecrets,
  redactor: Redactor,
): RegistryAuth | undefined {
  const credential = config.registryCredentials.get(config.source.registry);
  if (credential === undefined) return undefined;
  const serverAddress = config.source.registry;
  const password = secrets.resolve(credential.password);
  if (password === undefined) return undefined;
  if (credential.username !== undefined)
    return {
      username: credential.username,
      password: typeof password === 'string' ? new Secret(password) : password,
      serverAddress,
    };
  // The whole dockercfg `auth` was an aws:kms: value: it decrypts to base64 of user:password.
  const decoded = decodeRegistryAuth(typeof password === 'string' ? password : password.reveal());
  if (decoded === undefined) return undefined;
  redactor.register(decoded.password);
  return { username: decoded.username, password: new Secret(decoded.password), serverAddress };
}

async function startContainer(
  deps: BootDependencies,
  config: TaupageConfig,
  digest: string,
  secrets: ConfigSecrets,
  step: BootStepRecord,
  signal: AbortSignal,
): Promise<ContainerInfo> {
  const { runtime, settings } = deps;
  const log = deps.log.child({ component: 'docker', container: settings.containerName });
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
  const spec = containerSpecFor(config, digest, settings, secrets);
  const created = await runtime.createContainer(spec, signal);
  log.info({ id: created.id }, 'Created container');
  await runtime.startContainer(created.id, signal);
  const container = (await runtime.inspectContainer(created.id, signal)) ?? created;
  step.detail = `${existing === undefined ? 'created' : 'config changed: replaced'} and started ${created.id.slice(0, 12)}`;
  log.info({ id: created.id }, 'Started container');
  deps.state.containerObserved(container);
  return container;
}

const MAINTENANCE = 'maintenance: the app is not started';

async function stopForMaintenance(
  deps: BootDependencies,
  config: TaupageConfig,
  step: BootStepRecord,
  signal: AbortSignal,
): Promise<void> {
  const log = deps.log.child({ component: 'docker', container: deps.settings.containerName });
  const existing = await deps.runtime.findContainer(deps.settings.containerName, signal);
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

export function bootSummary(totalMs: number | undefined, summary: string): string {
  return `Boot completed in ${formatDuration(totalMs ?? 0)}: ${summary}`;
}
