import type { StackSignaller } from '../cloudformation/stack-signaller.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import type { Clock } from '../core/clock.js';
import { lazy } from '../core/lazy.js';
import type { Logger } from '../core/logger.js';
import { PIERONE_TRUST_POLICY } from '../docker/registry-trust.js';
import type { HostMetadata } from '../host/host-metadata.js';
import { hostBootStartedAt } from '../lifecycle/host-boot-marker.js';
import type { HostPower } from '../lifecycle/host-power.js';
import { NullHostPower } from '../lifecycle/null-host-power.js';
import { RecordingHostPower } from '../lifecycle/recording-host-power.js';
import { SystemdHostPower } from '../lifecycle/systemd-host-power.js';
import type { LoadBalancerHealth } from '../loadbalancer/load-balancer-health.js';
import { AgentLogSource } from '../logs/agent-log-source.js';
import { ImdsInstanceMetadata } from '../metadata/imds-instance-metadata.js';
import type { InstanceIdentity, InstanceMetadata } from '../metadata/instance-metadata.js';
import type { SecretDecrypter } from '../secrets/secret-decrypter.js';
import type { RegistryAccess } from './boot.js';
import type { Platform } from './platform.js';
import type { Ec2AgentSettings } from './settings.js';

/**
 * EC2 mode: IMDSv2, KMS, ECR, the load balancer, CloudFormation and Auto Scaling. Each AWS SDK
 * client loads on first use: most boots need few of them, and they sit on the boot's path.
 */
export class Ec2Platform implements Platform {
  readonly mode = 'ec2';
  readonly agentLog = new AgentLogSource();
  readonly localLogFileDir = undefined;
  readonly removeContainerOnExit = false;
  readonly registries: RegistryAccess;
  readonly #settings: Ec2AgentSettings;
  readonly #clock: Clock;
  /**
   * The KMS client module (~100 ms to load and compile), only when a value is encrypted: most
   * configs have none, and this sits on the boot's critical path. Its loading starts as soon as
   * the user data is there and has an aws:kms: value (see metadata()), while IMDS still answers
   * for the identity and the config is parsed, not when the kms step needs it.
   */
  #kmsModule: Promise<typeof import('../secrets/kms-secret-decrypter.js')> | undefined;
  readonly #loadKms = (): Promise<typeof import('../secrets/kms-secret-decrypter.js')> =>
    (this.#kmsModule ??= import('../secrets/kms-secret-decrypter.js'));

  constructor(settings: Ec2AgentSettings, clock: Clock) {
    this.#settings = settings;
    this.#clock = clock;
    const ecr = lazy(async () => {
      const { AwsEcrTokenSource } = await import('../docker/aws-ecr-token-source.js');
      return new AwsEcrTokenSource(settings.ecrEndpoint, clock);
    });
    this.registries = {
      ecr: { token: async (region, abort) => (await ecr()).token(region, abort) },
      identityDocumentRegistries: new Set(settings.identityDocumentRegistries),
      trustPolicy: settings.requireTrustedImages ? PIERONE_TRUST_POLICY : undefined,
    };
  }

  metadata(deps: { readonly clock: Clock; readonly log: Logger }): {
    readonly instance: InstanceMetadata;
    readonly host: HostMetadata;
  } {
    const preloadKms = (userData: Buffer): void => {
      // A failed load surfaces at the kms step (it loads again there), not here.
      if (userData.includes('aws:kms:'))
        this.#loadKms().catch(() => {
          this.#kmsModule = undefined;
        });
    };
    const imds = new (class extends ImdsInstanceMetadata {
      override async userData(signal: AbortSignal): Promise<Buffer> {
        const userData = await super.userData(signal);
        preloadKms(userData);
        return userData;
      }
    })({
      baseUrl: this.#settings.imdsUrl,
      clock: deps.clock,
      log: deps.log.child({ component: 'imds' }),
      budgetMs: this.#settings.imdsBudgetMs,
    });
    return { instance: imds, host: imds };
  }

  /** The KMS client only when a value is encrypted (preloaded once the user data shows one). */
  secretDecrypter(): Promise<(identity: InstanceIdentity) => SecretDecrypter> {
    const endpoint = this.#settings.kmsEndpoint;
    return Promise.resolve((identity) => {
      const kms = lazy(async () => {
        const { KmsSecretDecrypter } = await this.#loadKms();
        return new KmsSecretDecrypter({ region: identity.region, endpoint });
      });
      return {
        decrypt: async (ciphertext, signal, context) => (await kms()).decrypt(ciphertext, signal, context),
      };
    });
  }

  readonly loadBalancerHealth = (identity: InstanceIdentity): LoadBalancerHealth => {
    const endpoint = this.#settings.elbEndpoint;
    const health = lazy(async () => {
      const { AwsLoadBalancerHealth } = await import('../loadbalancer/aws-load-balancer-health.js');
      return new AwsLoadBalancerHealth({ region: identity.region, endpoint });
    });
    return {
      targetHealth: async (target, instanceId, abort) =>
        (await health()).targetHealth(target, instanceId, abort),
    };
  };

  readonly createStackSignaller = async (identity: InstanceIdentity): Promise<StackSignaller> => {
    const { AwsCloudFormationSignaller } = await import('../cloudformation/aws-cloudformation-signaller.js');
    return new AwsCloudFormationSignaller(
      { region: identity.region, endpoint: this.#settings.cloudFormationEndpoint },
      this.#clock,
    );
  };

  readonly lifecycleAction = (
    config: TaupageConfig,
    identity: InstanceIdentity,
  ): ((signal: AbortSignal) => Promise<void>) | undefined => {
    const hookName = config.lifecycleHook;
    if (hookName === undefined) return undefined;
    const endpoint = this.#settings.host.autoScalingEndpoint;
    return async (signal) => {
      const { AwsAutoScalingLifecycleAction } = await import('../host/aws-autoscaling-lifecycle-action.js');
      const action = new AwsAutoScalingLifecycleAction({ region: identity.region, endpoint });
      try {
        await action.complete(
          { hookName, instanceId: identity.instanceId, autoScalingGroupName: identity.autoScalingGroupName },
          signal,
        );
      } finally {
        action.destroy();
      }
    };
  };

  /** `--host-power`: systemd, a recording double for tests, or nothing. */
  hostPower(log: Logger): HostPower {
    const choice = this.#settings.hostPower;
    if (choice.startsWith('record:')) return new RecordingHostPower(choice.slice('record:'.length));
    if (choice === 'off') return new NullHostPower(log.child({ component: 'lifecycle' }));
    return new SystemdHostPower();
  }

  /** Marked at every start, so the first agent run of a host boot sets it (see host-boot-marker.ts). */
  hostBootStartedAt(processStartedAt: number, log: Logger): Promise<number | undefined> {
    const dir = this.#settings.bootMarkerDir;
    return dir === undefined
      ? Promise.resolve(undefined)
      : hostBootStartedAt(dir, processStartedAt, { log: log.child({ component: 'lifecycle' }) });
  }
}
