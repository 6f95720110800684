import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { TaupageConfig } from '../config/taupage-config.js';
import { EtcdRegistration, ec2PrivateDnsName } from '../etcd/etcd-registration.js';
import { LocalEtcd } from '../etcd/local-etcd.js';
import { registrationValue } from '../etcd/registration-document.js';
import { discoverEtcdPeers, srvResolver } from '../etcd/srv-discovery.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { AgentState } from '../status/agent-state.js';
import type { LocalEtcdSettings } from './integration-settings.js';

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

/**
 * `etcd_discovery_domain` set and the agent runs the local etcd: starts it (before the app, so
 * `ETCD_URL` answers when the app starts, as the original's init.d/14 did); otherwise undefined.
 */
export function startLocalEtcd(options: {
  readonly config: TaupageConfig;
  readonly identity: InstanceIdentity;
  readonly settings: LocalEtcdSettings;
  readonly clock: Clock;
  readonly log: Logger;
}): LocalEtcd | undefined {
  const { config, settings } = options;
  const domain = config.etcdDiscoveryDomain;
  if (domain === undefined) return undefined;
  const resolver = srvResolver(settings.dnsServer);
  const etcd = new LocalEtcd({
    binary: settings.binary,
    domain,
    listenUrls: settings.listenUrls,
    peerUrl: settings.peerUrl,
    dataDir: settings.dataDir,
    name: instanceName(options.identity),
    discover: (name) => discoverEtcdPeers(name, resolver),
    clock: options.clock,
    log: options.log,
  });
  etcd.start();
  return etcd;
}

/** The instance's name in etcd: EC2's private DNS name, else (local mode) the host name. */
function instanceName(identity: InstanceIdentity): string {
  return identity.privateIp === undefined
    ? hostname()
    : ec2PrivateDnsName(identity.privateIp, identity.region);
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
    fqdn: instanceName(identity),
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
