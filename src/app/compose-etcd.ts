import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import { EtcdRegistration, ec2PrivateDnsName } from '../etcd/etcd-registration.js';
import { registrationValue } from '../etcd/registration-document.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { AgentState } from '../status/agent-state.js';

/** A running heartbeat; `stop` ends it (the key then expires with its TTL). */
export interface RunningRegistration {
  readonly registration: EtcdRegistration;
  stop(): Promise<void>;
}

export interface EtcdRegistrationOptions {
  readonly config: TaupageConfig;
  readonly identity: InstanceIdentity;
  /** The instance-local etcd (`--etcd-endpoint`). */
  readonly endpoint: string;
  /** Where the boot wrote taupage.yaml: the heartbeat publishes it (masked), as the original did. */
  readonly metaDir: string;
  readonly isHealthy: () => boolean;
  readonly clock: Clock;
  readonly log: Logger;
}

/** `etcd_discovery_domain` set: starts the heartbeat; otherwise undefined. */
export async function startEtcdRegistration(
  options: EtcdRegistrationOptions,
): Promise<RunningRegistration | undefined> {
  const { config, identity, log } = options;
  if (config.etcdDiscoveryDomain === undefined) return undefined;
  const written = load(await readFile(join(options.metaDir, 'taupage.yaml'), 'utf8'));
  const document =
    written !== null && typeof written === 'object' ? (written as Record<string, unknown>) : {};
  const registration = new EtcdRegistration({
    endpoint: options.endpoint,
    fqdn:
      identity.privateIp === undefined ? hostname() : ec2PrivateDnsName(identity.privateIp, identity.region),
    value: registrationValue(document),
    isHealthy: options.isHealthy,
    clock: options.clock,
    log,
  });
  log.info(
    { key: registration.key, endpoint: options.endpoint, domain: config.etcdDiscoveryDomain },
    'Registering in etcd while the app is healthy',
  );
  const stop = new AbortController();
  const running = registration.run(stop.signal);
  return {
    registration,
    stop: async () => {
      stop.abort();
      await running;
    },
  };
}

/**
 * What "the app's health check passes" means for the heartbeat: the application health is
 * `passing` (the boot's gate, then the continuous health monitor's verdict, both kept in
 * state.health) or `none` (nothing to check), and the container is running.
 */
export function bootHealthPredicate(state: AgentState): () => boolean {
  return () =>
    (state.health.status === 'passing' || state.health.status === 'none') &&
    state.container?.state === 'running';
}
