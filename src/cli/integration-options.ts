import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { INTEGRATION_DEFAULTS, type IntegrationSettings } from '../app/integration-settings.js';
import { UsageError } from './output.js';

export interface IntegrationOptions {
  containerUser?: string;
  applicationLog: string;
  dockerPidFile: string;
  etcdEndpoint: string;
  etcdContainerUrl: string;
  etcdBinary: string;
  etcdListen: string;
  etcdPeerUrl: string;
  etcdDataDir: string;
  etcdDnsServer?: string;
  dockerCli: string;
}

/** The flags of IntegrationSettings (`taupage agent`). */
export function addIntegrationOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--container-user <user>',
        'docker run --user for the app unless root: true (default: the uid of --application-user, the original’s -u 999; the group is the image’s)',
      ).env('TAUPAGE_CONTAINER_USER'),
    )
    .addOption(
      new Option(
        '--application-log <file|off>',
        'the app’s output as syslog lines, rotated by application_logrotate_* (what the original’s rsyslog wrote)',
      )
        .env('TAUPAGE_APPLICATION_LOG')
        .default(INTEGRATION_DEFAULTS.applicationLog),
    )
    .addOption(
      new Option(
        '--docker-pid-file <file>',
        'dockerd’s pidfile: its pid is the [pid] of the application log’s docker/<id> tags, as Docker’s syslog driver wrote it (the agent’s pid if unreadable)',
      )
        .env('TAUPAGE_DOCKER_PID_FILE')
        .default(INTEGRATION_DEFAULTS.dockerPidFile),
    )
    .addOption(
      new Option(
        '--etcd-endpoint <url>',
        'instance-local etcd (v2 API) that etcd_discovery_domain registers with',
      )
        .env('TAUPAGE_ETCD_ENDPOINT')
        .default(INTEGRATION_DEFAULTS.etcdEndpoint),
    )
    .addOption(
      new Option(
        '--etcd-container-url <url>',
        'ETCD_URL in the app container when etcd_discovery_domain is set',
      )
        .env('TAUPAGE_ETCD_CONTAINER_URL')
        .default(INTEGRATION_DEFAULTS.etcdContainerUrl),
    )
    .addOption(
      new Option(
        '--etcd-binary <file|off>',
        'the etcd the agent runs for etcd_discovery_domain (a proxy found by DNS SRV, or a single node for disable); off: the AMI runs its own',
      )
        .env('TAUPAGE_ETCD_BINARY')
        .default(INTEGRATION_DEFAULTS.etcdBinary),
    )
    .addOption(
      new Option('--etcd-listen <urls>', 'client URLs the local etcd listens on (comma-separated)')
        .env('TAUPAGE_ETCD_LISTEN')
        .default(INTEGRATION_DEFAULTS.etcdListen),
    )
    .addOption(
      new Option('--etcd-peer-url <url>', 'peer URL of the single-node etcd (etcd_discovery_domain: disable)')
        .env('TAUPAGE_ETCD_PEER_URL')
        .default(INTEGRATION_DEFAULTS.etcdPeerUrl),
    )
    .addOption(
      new Option('--etcd-data-dir <dir>', 'data directory of the local etcd')
        .env('TAUPAGE_ETCD_DATA_DIR')
        .default(INTEGRATION_DEFAULTS.etcdDataDir),
    )
    .addOption(
      new Option(
        '--etcd-dns-server <ip[:port]>',
        'DNS server for the etcd_discovery_domain SRV lookup (default: the system’s resolvers)',
      ).env('TAUPAGE_ETCD_DNS_SERVER'),
    )
    .addOption(
      new Option(
        '--docker-cli <file|off>',
        'Docker CLI bound read-only at /usr/bin/docker for docker_daemon_access (not bound when missing)',
      )
        .env('TAUPAGE_DOCKER_CLI')
        .default(INTEGRATION_DEFAULTS.dockerCli),
    );
}

export function integrationSettings(options: IntegrationOptions): IntegrationSettings {
  for (const [flag, value] of [
    ['--etcd-endpoint', options.etcdEndpoint],
    ['--etcd-container-url', options.etcdContainerUrl],
    ['--etcd-peer-url', options.etcdPeerUrl],
    ...options.etcdListen.split(',').map((url) => ['--etcd-listen', url.trim()] as const),
  ] as const) {
    if (!URL.canParse(value) || !/^https?:/.test(value))
      throw new UsageError(`${flag} expects an http(s) URL, not "${value}"`);
  }
  const user = options.containerUser;
  if (user !== undefined && !/^\d+(:\d+)?$/.test(user))
    throw new UsageError(`--container-user expects UID or UID:GID, not "${user}"`);
  const file = (value: string): string | undefined =>
    value === 'off' || value === '' ? undefined : resolve(value);
  const dockerCli = file(options.dockerCli);
  const dnsServer = options.etcdDnsServer;
  if (dnsServer !== undefined && !isDnsServer(dnsServer))
    throw new UsageError(`--etcd-dns-server expects IP or IP:PORT, not "${dnsServer}"`);
  const etcdBinary =
    options.etcdBinary === 'off' || options.etcdBinary === '' ? undefined : options.etcdBinary;
  return {
    containerUser: user,
    applicationLog: file(options.applicationLog),
    dockerPidFile: resolve(options.dockerPidFile),
    etcdEndpoint: options.etcdEndpoint.replace(/\/+$/, ''),
    etcdContainerUrl: options.etcdContainerUrl,
    localEtcd:
      etcdBinary === undefined
        ? undefined
        : {
            binary: etcdBinary,
            listenUrls: options.etcdListen.split(',').map((url) => url.trim().replace(/\/+$/, '')),
            peerUrl: options.etcdPeerUrl.replace(/\/+$/, ''),
            dataDir: resolve(options.etcdDataDir),
            dnsServer,
          },
    // A missing file would make Docker create an empty directory in its place.
    dockerCli: dockerCli !== undefined && existsSync(dockerCli) ? dockerCli : undefined,
  };
}

/** `IP`, `IP:PORT` or `[IPv6]:PORT`, what node's Resolver.setServers takes. */
function isDnsServer(value: string): boolean {
  if (isIP(value) !== 0) return true;
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(value);
  return match !== null && isIP(match[1] ?? '') !== 0 && Number(match[2]) > 0 && Number(match[2]) < 65536;
}
