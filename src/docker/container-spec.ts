import { REDACTED, type Secret } from '../core/secret.js';
import { formatImageReference } from '../config/image-reference.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import type { ConfigSecrets } from '../secrets/decrypt-config-secrets.js';
import type { ContainerSpec } from './container-runtime.js';

export const CONTAINER_LABELS = {
  managed: 'io.taupage.managed',
  applicationId: 'io.taupage.application-id',
  applicationVersion: 'io.taupage.application-version',
  configDigest: 'io.taupage.config-digest',
} as const;

/**
 * The container's output stays on the host in bounded files (250 MB at most): `docker logs` and
 * the log shipper read them, and a chatty app cannot fill the disk, which in the original took
 * SSH down with it (Taupage #176). `docker.log_driver`/`log_opt` will override this.
 */
export const BOUNDED_JSON_FILE_LOGS = {
  driver: 'json-file',
  options: { 'max-size': '50m', 'max-file': '5' },
} as const;

export interface ContainerSpecSettings {
  readonly containerName: string;
  /** Host directory mounted read-only at /meta (holds taupage.yaml, later credentials). */
  readonly metaDir: string;
  /** uid:gid of the host's `application` user (fixed in the AMI). */
  readonly applicationUser: string;
}

/**
 * The container the config describes. Pure: `taupage plan` calls it without secrets (they
 * show as [redacted]), the boot calls it with the decrypted values.
 */
export function buildContainerSpec(
  config: TaupageConfig,
  digest: string,
  settings: ContainerSpecSettings,
  secrets: ConfigSecrets | undefined,
): ContainerSpec {
  const env: { name: string; value: string | Secret }[] = config.environment.map((variable) => ({
    name: variable.name,
    value:
      secrets?.resolve(variable.value) ?? (variable.value.kind === 'plain' ? variable.value.value : REDACTED),
  }));
  // Set after the user's variables so they win, as in the original.
  if (config.applicationId !== undefined) env.push({ name: 'APPLICATION_ID', value: config.applicationId });
  if (config.applicationVersion !== undefined)
    env.push({ name: 'APPLICATION_VERSION', value: config.applicationVersion });
  env.push({ name: 'CREDENTIALS_DIR', value: '/meta/credentials' });

  const labels: Record<string, string> = {
    [CONTAINER_LABELS.managed]: 'true',
    [CONTAINER_LABELS.configDigest]: digest,
  };
  if (config.applicationId !== undefined) labels[CONTAINER_LABELS.applicationId] = config.applicationId;
  if (config.applicationVersion !== undefined)
    labels[CONTAINER_LABELS.applicationVersion] = config.applicationVersion;

  return {
    name: settings.containerName,
    image: config.source,
    env,
    ports: config.ports,
    mounts: [{ source: settings.metaDir, target: '/meta', readOnly: true }],
    user: config.root ? undefined : settings.applicationUser,
    // Docker's own restart policy supervises the app, as in the original (on-failure:10).
    restartPolicy: { name: 'on-failure', maximumRetryCount: 10 },
    logConfig: BOUNDED_JSON_FILE_LOGS,
    labels,
  };
}

/** The spec as plain data for `taupage plan` and logs; secrets stay [redacted]. */
export function describeContainerSpec(spec: ContainerSpec): Record<string, unknown> {
  return {
    name: spec.name,
    image: formatImageReference(spec.image),
    env: spec.env.map(({ name, value }) => ({ name, value: typeof value === 'string' ? value : REDACTED })),
    ports: spec.ports.map((port) => ({
      host: port.hostPort,
      container: port.containerPort,
      protocol: port.protocol,
    })),
    mounts: spec.mounts,
    user: spec.user ?? 'image default (root: true)',
    restartPolicy: `${spec.restartPolicy.name}:${spec.restartPolicy.maximumRetryCount}`,
    logConfig: spec.logConfig,
    labels: spec.labels,
  };
}
