import type { TaupageConfig } from '../config/taupage-config.js';
import type { ContainerSpec } from '../docker/container-runtime.js';
import { buildContainerSpec } from '../docker/container-spec.js';
import type { ConfigSecrets } from '../secrets/decrypt-config-secrets.js';
import type { BootSettings } from './boot.js';

/**
 * The app container's spec from the config and the AMI settings: the boot creates the container
 * from it, the supervisor recreates a removed one from the same (same host paths, so identical).
 */
export function containerSpecFor(
  config: TaupageConfig,
  digest: string,
  settings: BootSettings,
  secrets: ConfigSecrets,
): ContainerSpec {
  return buildContainerSpec(
    config,
    digest,
    {
      containerName: settings.containerName,
      metaDir: settings.metaDir,
      applicationUser: settings.applicationUser,
      ...(settings.hostPaths === undefined ? {} : { hostPaths: settings.hostPaths }),
    },
    secrets,
  );
}
