import { formatImageReference, mutableTagReason } from '../config/image-reference.js';
import { decodeRegistryAuth } from './registry-basic-auth.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import type { Clock } from '../core/clock.js';
import { isTaupageError, TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import { Secret } from '../core/secret.js';
import type { ConfigSecrets } from '../secrets/decrypt-config-secrets.js';
import type { ContainerRuntime, RegistryAuth } from './container-runtime.js';
import type { EcrTokenSource } from './ecr-token-source.js';
import { RegistryAuthProvider } from './registry-auth-provider.js';
import { verifyImageTrusted, type TrustPolicy } from './registry-trust.js';

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

/**
 * Waiting for the Docker engine (socket missing, connection refused, no answer): dockerd may
 * still be starting when the agent does (after a crash, an upgrade, a slow disk), and systemd's
 * Requires= only orders the start, not the readiness of its API. Backoff from 250 ms to 5 s
 * for up to 2 minutes, then DOCKER_UNAVAILABLE (exit 4) and systemd restarts the agent.
 */
export const DOCKER_WAIT_POLICY: RetryPolicy = {
  name: 'docker',
  maxAttempts: 1_000,
  initialDelayMs: 250,
  maxDelayMs: 5_000,
  multiplier: 2,
  budgetMs: 120_000,
  jitter: true,
};

/**
 * One pull may take this long in all (the ECS agent allows 2 h). 15 minutes is Senza's default
 * CreationPolicy timeout: a pull still running then has already failed the deployment.
 */
const PULL_DEADLINE_MS = 15 * 60_000;

/** How often a running pull is narrated in the log. */
const PULL_PROGRESS_LOG_INTERVAL_MS = 5_000;

/** How images are fetched, beyond the TaupageConfig's own `dockercfg` (AMI-level settings). */
export interface RegistryAccess {
  readonly ecr: EcrTokenSource | undefined;
  /** Registries that take the signed instance identity as a login (Pier One). */
  readonly identityDocumentRegistries: ReadonlySet<string>;
  /** Require this trust header on the manifest before pulling; undefined: no check. */
  readonly trustPolicy: TrustPolicy | undefined;
}

/** What the boot's `pull` step needs (BootDependencies fits). */
export interface EnsureImageDependencies {
  readonly runtime: ContainerRuntime;
  /** The signed instance identity, a login for Pier One-style registries. */
  readonly metadata: { identitySignature(signal: AbortSignal): Promise<string> };
  readonly registries?: RegistryAccess | undefined;
  readonly settings: { readonly pullInactivityTimeoutMs: number };
  readonly redactor: Redactor;
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * The boot's `pull` step: an image already present is used as it is (tags are immutable under
 * the tag policy), else it is pulled with the config's dockercfg, an ECR token or the instance
 * identity, after the trust check when the AMI asks for one. Sets the step's detail.
 */
export async function ensureImage(
  deps: EnsureImageDependencies,
  config: TaupageConfig,
  secrets: ConfigSecrets,
  step: { detail: string | undefined },
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
  const present = await waitForDocker(
    deps,
    log,
    () => deps.runtime.imageExists(config.source, signal),
    signal,
  );
  if (!refresh && present) {
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
  const trustPolicy = deps.registries?.trustPolicy;
  let lastLog = deps.clock.now();
  log.info('Pulling image');
  // The credentials (an ECR token, the identity document), the trust check and the pull are one
  // attempt: a blip in any of them (token endpoint 503, registry 5xx, IMDS) is retried together.
  await retry(
    async () => {
      const auth =
        registryAuth(config, secrets, deps.redactor) ?? (await otherRegistryAuth(deps, config, signal));
      if (trustPolicy !== undefined) {
        await verifyImageTrusted(config.source, auth, trustPolicy, signal);
        log.info('Image is trusted for production');
      }
      await deps.runtime.pullImage(config.source, {
        auth,
        signal,
        inactivityTimeoutMs: deps.settings.pullInactivityTimeoutMs,
        deadlineMs: PULL_DEADLINE_MS,
        onProgress: (progress) => {
          if (deps.clock.now() - lastLog < PULL_PROGRESS_LOG_INTERVAL_MS) return;
          lastLog = deps.clock.now();
          log.info({ downloadedBytes: progress.downloadedBytes }, 'Still pulling image');
        },
      });
    },
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

/** The first Docker call of the boot, retried while the engine does not answer (DOCKER_WAIT_POLICY). */
export function waitForDocker<T>(
  deps: { readonly clock: Clock },
  log: Logger,
  call: () => Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  return retry(call, DOCKER_WAIT_POLICY, {
    clock: deps.clock,
    signal,
    isRetriable: (error) => isTaupageError(error) && error.code === 'DOCKER_UNAVAILABLE',
    onRetry: (_error, attempt, delayMs) => {
      log.warn({ attempt, delayMs }, 'Docker engine not answering yet, waiting');
    },
  });
}

/** ECR and instance-identity logins, as the AMI configures them (dockercfg always wins). */
async function otherRegistryAuth(deps: EnsureImageDependencies, config: TaupageConfig, signal: AbortSignal) {
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
