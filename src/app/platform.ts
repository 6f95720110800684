import type { StackSignaller } from '../cloudformation/stack-signaller.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { HostMetadata } from '../host/host-metadata.js';
import type { HostPower } from '../lifecycle/host-power.js';
import type { LoadBalancerHealth } from '../loadbalancer/load-balancer-health.js';
import type { AgentLogSource } from '../logs/agent-log-source.js';
import type { InstanceIdentity, InstanceMetadata } from '../metadata/instance-metadata.js';
import type { SecretDecrypter } from '../secrets/secret-decrypter.js';
import type { RegistryAccess } from './boot.js';
import { Ec2Platform } from './ec2-platform.js';
import { LocalPlatform } from './local-platform.js';
import type { AgentSettings } from './settings.js';

/**
 * What differs between EC2 and local mode, chosen once (like the ECS agent's null clients and
 * nodeadm's no-op providers): the composition asks the platform for its adapters and never asks
 * which mode it is in. Adapters that load big libraries load on first use (see core/lazy.ts).
 */
export interface Platform {
  readonly mode: 'ec2' | 'local';
  /**
   * EC2: the agent's own log is a log source too (`cloudwatch_logs: /var/log/taupage.log`); the
   * lines before the pipeline starts wait in its bounded buffer. undefined: not shipped.
   */
  readonly agentLog: AgentLogSource | undefined;
  /** Identity and user data; `host`: subnet, public IP, termination notices (undefined: no instance). */
  metadata(deps: { readonly clock: Clock; readonly log: Logger }): {
    readonly instance: InstanceMetadata;
    readonly host: HostMetadata | undefined;
  };
  /** Decrypts `aws:kms:` values; KMS needs the region, known after the imds step. */
  secretDecrypter(): Promise<(identity: InstanceIdentity) => SecretDecrypter>;
  /** ECR and instance-identity logins and the trust policy; undefined: only the config's dockercfg. */
  readonly registries: RegistryAccess | undefined;
  /** `healthcheck: {type: elb|alb}`; undefined: no load balancer here. */
  readonly loadBalancerHealth: ((identity: InstanceIdentity) => LoadBalancerHealth) | undefined;
  /** CloudFormation for notify_cfn; undefined: nothing to signal. */
  readonly createStackSignaller: ((identity: InstanceIdentity) => Promise<StackSignaller>) | undefined;
  /** CompleteLifecycleAction for `lifecycle_hook`; undefined: no hook to complete. */
  readonly lifecycleAction:
    | ((
        config: TaupageConfig,
        identity: InstanceIdentity,
      ) => ((signal: AbortSignal) => Promise<void>) | undefined)
    | undefined;
  /** Power-off for `shutdown:`, and "is the host shutting down?" on SIGTERM. */
  hostPower(log: Logger): HostPower;
  /** When the agent first started in this host boot; undefined: every start counts as a boot. */
  hostBootStartedAt(processStartedAt: number, log: Logger): Promise<number | undefined>;
  /** The app's output goes to files in this directory instead of AWS; undefined: as configured. */
  readonly localLogFileDir: string | undefined;
  /** Stop and remove the app container when the agent exits. */
  readonly removeContainerOnExit: boolean;
}

/** The one place that looks at the mode. */
export function platformFor(settings: AgentSettings, clock: Clock): Platform {
  return settings.mode === 'local' ? new LocalPlatform(settings) : new Ec2Platform(settings, clock);
}
