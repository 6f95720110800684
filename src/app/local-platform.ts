import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { HostPower } from '../lifecycle/host-power.js';
import { NullHostPower } from '../lifecycle/null-host-power.js';
import { LocalInstanceMetadata } from '../metadata/local-instance-metadata.js';
import type { InstanceIdentity, InstanceMetadata } from '../metadata/instance-metadata.js';
import { DevKeySecretDecrypter, loadOrCreateDevKey } from '../secrets/local-dev-key.js';
import type { SecretDecrypter } from '../secrets/secret-decrypter.js';
import type { Platform } from './platform.js';
import type { LocalAgentSettings, LocalSettings } from './settings.js';

/**
 * `taupage local`: the config from a file, `aws:kms:` values with the local dev key, the app's
 * output to files. No AWS at all: no registry logins but dockercfg, no load balancer, nothing to
 * signal, no host to power off; Ctrl-C stops and removes the app unless --keep-container.
 */
export class LocalPlatform implements Platform {
  readonly mode = 'local';
  readonly agentLog = undefined;
  readonly registries = undefined;
  readonly loadBalancerHealth = undefined;
  readonly createStackSignaller = undefined;
  readonly lifecycleAction = undefined;
  readonly localLogFileDir: string;
  readonly removeContainerOnExit: boolean;
  readonly #local: LocalSettings;

  constructor(settings: LocalAgentSettings) {
    this.#local = settings.local;
    this.localLogFileDir = settings.logStateDir;
    this.removeContainerOnExit = !settings.local.keepContainer;
  }

  metadata(_deps: { readonly clock: Clock; readonly log: Logger }): {
    readonly instance: InstanceMetadata;
    readonly host: undefined;
  } {
    return {
      instance: new LocalInstanceMetadata(this.#local.configFile, this.#local.region),
      host: undefined,
    };
  }

  async secretDecrypter(): Promise<(identity: InstanceIdentity) => SecretDecrypter> {
    const key = await loadOrCreateDevKey(this.#local.devKeyFile);
    return () => new DevKeySecretDecrypter(key);
  }

  /** A laptop is never powered off by `shutdown:`. */
  hostPower(log: Logger): HostPower {
    return new NullHostPower(log.child({ component: 'lifecycle' }));
  }

  /** Every start is a boot: an exited container is started again. */
  hostBootStartedAt(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }
}
