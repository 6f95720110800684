import type { MutableTagPolicy } from '../config/image-reference.js';
import type { HealthMonitorSettings } from '../health/health-monitor.js';
import type { HostSettings } from './compose-host.js';
import type { HostSshSettings } from '../ssh/configure-host-ssh.js';
import type { IntegrationSettings } from './integration-settings.js';

/**
 * How the agent itself is set up (not the app: that is the TaupageConfig). Each setting has a
 * command-line flag and a TAUPAGE_* environment variable; see `taupage agent --help` and
 * cli/agent-options.ts. One shape per mode: EC2 mode's AWS settings do not exist in local mode.
 */
export type AgentSettings = Ec2AgentSettings | LocalAgentSettings;

/** What both modes set. */
export interface CommonAgentSettings {
  /** The AMI's defaults file; user data keys replace its keys. */
  readonly defaultsFile: string | undefined;
  readonly metaDir: string;
  readonly statusHost: string;
  readonly statusPort: number;
  /** Prometheus GET /metrics (node_exporter's :9100); undefined: off. */
  readonly metrics?: {
    readonly host: string;
    readonly port: number;
    /** node_exporter's textfile collector directory (`*.prom`). */
    readonly textfileDir: string | undefined;
    /** Where /proc is (node_exporter's --path.procfs). */
    readonly procRoot: string;
  };
  /** `enhanced_cloudwatch_metrics`: how often, and the endpoint override (tests, emulators). */
  readonly cloudwatch?: { readonly intervalSeconds: number; readonly endpoint: string | undefined };
  readonly containerName: string;
  readonly applicationUser: string;
  /** Whether `source` may use a mutable tag (`latest`, `*SNAPSHOT*`): reject (default), warn, allow. */
  readonly mutableTags?: MutableTagPolicy;
  readonly pullInactivityTimeoutMs: number;
  /** The app's health check after the boot: interval, timeout, thresholds (docs/health.md). */
  readonly healthMonitor: HealthMonitorSettings;
  /** The log pipeline's spool and checkpoints. */
  readonly logStateDir: string;
  /** CloudWatch Logs endpoint override (tests). */
  readonly cloudWatchLogsEndpoint?: string | undefined;
  /** S3 endpoint override of the logging s3 destination (tests). */
  readonly s3LogsEndpoint?: string | undefined;
  /** Scalyr addEvents URL override (`--scalyr-endpoint`; agent and local mode). */
  readonly scalyrEndpoint?: string | undefined;
  /** Logentries token input override (`--logentries-endpoint` HOST:PORT, tcp://HOST:PORT). */
  readonly logentriesEndpoint?: string | undefined;
  /** The supervisor's memory of the container across agent restarts. */
  readonly supervisorStateFile: string;
  /** Host preparation (sysctl, disks, credentials, termination notices); see docs/host.md. */
  readonly host: HostSettings;
  readonly logLevel: string;
  /** The audit trail and SSH access expiry (EC2 mode); undefined: off. See docs/ssh-access.md. */
  readonly audit?: AuditSettings;
  /** The host's sshd from ssh_ports & co. (EC2 mode); undefined: sshd is not managed. */
  readonly sshd?: HostSshSettings;
  /** Container user, application.log, etcd, Docker CLI (issue 19; EC2 mode); undefined: defaults off. */
  readonly integration?: IntegrationSettings;
}

/** `taupage agent`: IMDSv2, KMS and the other AWS services of the instance's region. */
export interface Ec2AgentSettings extends CommonAgentSettings {
  readonly mode: 'ec2';
  readonly imdsUrl: string;
  /** How long the boot waits for IMDS to answer at all. */
  readonly imdsBudgetMs: number;
  readonly kmsEndpoint: string | undefined;
  /** CloudFormation endpoint override (tests); the region's endpoint otherwise. */
  readonly cloudFormationEndpoint: string | undefined;
  /** ECR and ELB endpoint overrides (tests); the region's endpoints otherwise. */
  readonly ecrEndpoint: string | undefined;
  readonly elbEndpoint: string | undefined;
  /** Registries that accept the signed instance identity as login (the original's Pier One). */
  readonly identityDocumentRegistries: readonly string[];
  /** Refuse images whose manifest lacks X-Production-Ready-Taupage/X-Trusted: true (Pier One policy). */
  readonly requireTrustedImages: boolean;
  /** `systemd`, `record:<file>` (tests) or `off`; see src/lifecycle/. */
  readonly hostPower: string;
  /** On /run: `<dir>/date` is when the agent first started in this host boot; undefined: every start is a boot. */
  readonly bootMarkerDir: string | undefined;
}

/** `taupage local`: no AWS, the config from a file. */
export interface LocalAgentSettings extends CommonAgentSettings {
  readonly mode: 'local';
  readonly local: LocalSettings;
}

/** `taupage local`: where the config and the dev key are. */
export interface LocalSettings {
  readonly configFile: string;
  readonly region: string;
  readonly devKeyFile: string;
  /** Leave the container running when `taupage local` exits. */
  readonly keepContainer: boolean;
}

/** AMI-level settings of the audit trail and the SSH access watchers (flags: `taupage agent --help`). */
export interface AuditSettings {
  /** The local hash-chained trail (JSON lines). */
  readonly file: string;
  /** The shipper's per-sink offsets. */
  readonly shipperStateFile: string;
  /** S3 shipping; region: the instance's unless given. */
  readonly s3:
    | {
        readonly bucket: string;
        readonly prefix: string;
        readonly region?: string;
        readonly endpoint: string | undefined;
      }
    | undefined;
  readonly ssh: {
    readonly configFile: string;
    readonly grantsFile: string;
    readonly rootKeysFile: string;
    readonly homeBase: string | undefined;
    readonly killGraceMs: number;
    /** sshd's log to watch for logins; undefined: not watched. */
    readonly authLog: string | undefined;
    /** The disk-full fallback's root-login switch (tmpfs); undefined: none. */
    readonly sshdRuntimeDir: string | undefined;
    /** Reload sshd by SIGHUP to this pid; undefined: systemctl. */
    readonly sshdPidFile: string | undefined;
  };
}

export const DEFAULTS = {
  imdsUrl: 'http://169.254.169.254',
  imdsBudgetSeconds: 60,
  defaultsFile: '/etc/taupage/defaults.yaml',
  metaDir: '/meta',
  localMetaDir: '.taupage/meta',
  statusListen: '127.0.0.1:9101',
  // Where the original's node_exporter listened: Prometheus scrapes the instance from off-host.
  metricsListen: '0.0.0.0:9100',
  // The original's textfile collector directory (cron jobs drop *.prom files there).
  textfileDir: '/var/local/textfile_collector',
  cloudwatchIntervalSeconds: 60,
  containerName: 'taupageapp',
  // uid:gid of the `application` user, fixed in the AMI (the original used uid 999).
  applicationUser: '999:999',
  pullInactivitySeconds: 120,
  // The health check after the boot (src/health/health-monitor.ts says why these numbers).
  healthCheckIntervalSeconds: 10,
  healthCheckTimeoutSeconds: 5,
  healthCheckFailureThreshold: 2,
  healthCheckSuccessThreshold: 2,
  logLevel: 'info',
  localRegion: 'eu-central-1',
} as const;

export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port > 65535) {
    throw new Error(`expected HOST:PORT (e.g. 127.0.0.1:9101), found "${value}"`);
  }
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port };
}

/** Loopback addresses: the status endpoint binds only to these unless off-host access is opted into. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
