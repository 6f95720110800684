/**
 * Where the agent meets what the original's users relied on around the app (issue 19): the
 * container's user, `/var/log/application.log`, the instance-local etcd and the Docker CLI for
 * `docker_daemon_access`. AMI-level settings; flags in `taupage agent --help`.
 */
export interface IntegrationSettings {
  /** `--user` of the app container unless `root: true`; undefined: the uid of --application-user. */
  readonly containerUser: string | undefined;
  /** The app's output as syslog lines (the original's rsyslog file); undefined: not written. */
  readonly applicationLog: string | undefined;
  /** dockerd's pidfile: the `[pid]` in application.log's tags (Docker's syslog driver wrote its own). */
  readonly dockerPidFile: string;
  /** The instance-local etcd that `etcd_discovery_domain` registers with (v2 API). */
  readonly etcdEndpoint: string;
  /** `ETCD_URL` in the app container. */
  readonly etcdContainerUrl: string;
  /**
   * The instance-local etcd the agent runs for `etcd_discovery_domain` (a proxy found by DNS
   * SRV, or a single node for `disable`); undefined: the agent runs none (`--etcd-binary off`).
   */
  readonly localEtcd: LocalEtcdSettings | undefined;
  /** Host Docker CLI bound read-only at /usr/bin/docker for `docker_daemon_access`; undefined: none. */
  readonly dockerCli: string | undefined;
}

export interface LocalEtcdSettings {
  /** The etcd binary (Debian's `etcd-server`). */
  readonly binary: string;
  /** Client URLs it listens on (the first is the one it advertises). */
  readonly listenUrls: readonly string[];
  /** The single node's peer URL (`disable`). */
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The DNS server for the SRV discovery (`IP` or `IP:PORT`); undefined: the system's. */
  readonly dnsServer: string | undefined;
}

export const INTEGRATION_DEFAULTS = {
  applicationLog: '/var/log/application.log',
  // dockerd's default --pidfile.
  dockerPidFile: '/var/run/docker.pid',
  // The original's etcd listened on 127.0.0.1:2379 and docker0's 172.17.0.1:2379.
  etcdEndpoint: 'http://127.0.0.1:2379',
  etcdContainerUrl: 'http://172.17.0.1:2379',
  etcdBinary: '/usr/bin/etcd',
  etcdListen: 'http://127.0.0.1:2379,http://172.17.0.1:2379',
  etcdPeerUrl: 'http://127.0.0.1:2380',
  etcdDataDir: '/var/lib/taupage/etcd',
  // Debian's docker.io CLI on the AMI: linked against glibc only (libc.so.6), so it runs in
  // glibc-based images; point --docker-cli at a static build to serve musl/busybox images too.
  dockerCli: '/usr/bin/docker',
} as const;
