import type { ImageReference } from './image-reference.js';

/**
 * The typed, frozen config the agent runs on, built only by `validateConfig` from the schema in
 * `taupage-schema.ts` (which the compiler holds to this interface, key by key). Field names are
 * the YAML keys in camelCase; docs/configuration.md lists the key behind every field.
 *
 * Conventions: a key that is absent, `null` or `""` has its default (or is `undefined` when it
 * has none); booleans follow one truthiness rule; ports are numbers; sizes are bytes; free-text
 * values that may be secret are `ConfigValue`s (plain, or an `aws:kms:` ciphertext to resolve
 * with the boot's decrypted secrets). Fields marked "planned" are validated but not acted on by
 * this version yet; setting them produces a warning until they are.
 */
export interface TaupageConfig {
  // ── A. Identity and container runtime ──────────────────────────────────────────────────────
  readonly runtime: 'Docker';
  readonly source: ImageReference;
  readonly applicationId: string | undefined;
  readonly applicationVersion: string | undefined;
  readonly environment: readonly EnvironmentVariable[];
  readonly ports: readonly PortMapping[];
  /** Run as the image's user instead of the `application` user. */
  readonly root: boolean;
  readonly privileged: boolean;
  /** `read_only`: read-only root filesystem. */
  readonly readOnly: boolean;
  /** /dev/shm size in bytes (`shm_size`). */
  readonly shmSize: number | undefined;
  readonly hostname: string | undefined;
  /** Docker network mode. */
  readonly networking: NetworkMode;
  /** Capability names without `CAP_`, upper case. */
  readonly capabilitiesAdd: readonly string[];
  readonly capabilitiesDrop: readonly string[];
  /** Bind the Docker engine's socket (only the socket) into the container. */
  readonly dockerDaemonAccess: boolean;
  /** Host /var/log read-only at /var/log-host. */
  readonly mountVarLog: boolean;
  /** Host /var/log-custom at /var/log. */
  readonly mountCustomLog: boolean;
  /** Host /etc/ssl/certs read-only. */
  readonly mountCerts: boolean;
  /** Registry host → basic-auth credentials (`dockercfg`). */
  readonly registryCredentials: ReadonlyMap<string, RegistryCredential>;
  /** Batch mode: power off when the container exits for good (`on-exit`) or exits 0 (`on-success`). */
  readonly shutdown: ShutdownPolicy;
  /** The wished-for `docker:` options (log driver, stop timeout, limits). */
  readonly docker: DockerOptions;
  /** planned: when to pull `source` (the boot currently behaves as `if-not-present`). */
  readonly imagePullPolicy: ImagePullPolicy;

  // ── B. Credentials and tokens ──────────────────────────────────────────────────────────────
  /** S3 bucket the app's OAuth credentials are downloaded from into /meta/credentials. */
  readonly mintBucket: string | undefined;
  /** `TOKENINFO_URL` for the container. */
  readonly tokeninfoUrl: string | undefined;
  /** KMS encryption context sent with every `aws:kms:` Decrypt. */
  readonly encryptionContext: ReadonlyMap<string, string>;

  // ── C. Logging ─────────────────────────────────────────────────────────────────────────────
  /** The `logging:` map; `undefined` when absent (the original then shipped to S3; taupage ships nothing). */
  readonly logging: LoggingOptions | undefined;
  /** `scalyr_account_key` (legacy spelling; `logging.scalyr_account_key` wins). */
  readonly scalyrAccountKey: ConfigValue | undefined;
  readonly scalyrRegion: 'eu' | 'us' | undefined;
  readonly scalyrApplicationLogParser: string | undefined;
  readonly scalyrCustomLogParser: string | undefined;
  /** Logentries token (`logentries_token_id`; `logentries_tokenid` is the other spelling). */
  readonly logentriesTokenId: ConfigValue | undefined;
  readonly logentriesTokenid: ConfigValue | undefined;
  /** planned: rsyslog template for application.log, or `legacy`. */
  readonly rsyslogApplicationLogFormat: string | undefined;
  /** planned: bytes. */
  readonly rsyslogMaxMessageSize: number | undefined;
  /** planned */
  readonly rsyslogAwsMetadata: boolean;
  /** planned: logrotate of /var/log/application.log: size in bytes. */
  readonly applicationLogrotateSize: number;
  /** planned */
  readonly applicationLogrotateInterval: LogrotateInterval;
  /** planned: rotated files kept. */
  readonly applicationLogrotateRotate: number;
  /** Pre-2015 spelling of applicationLogrotateSize (used when that is the default). */
  readonly applicationLogrotateFilesize: number | undefined;
  /** Pre-2015 spelling of applicationLogrotateInterval (used when that is the default). */
  readonly applicationLogrotatePeriod: LogrotateInterval | undefined;
  /** planned */
  readonly applicationLogrotateDisableCopytruncate: boolean;
  /** planned */
  readonly applicationLogrotateDisableDelaycompress: boolean;
  /** planned */
  readonly applicationLogrotateDisableCompress: boolean;
  /** planned: logrotate of /var/log-custom/*.log: size in bytes. */
  readonly customlogLogrotateSize: number;
  /** planned */
  readonly customlogLogrotateInterval: LogrotateInterval;
  /** planned */
  readonly customlogLogrotateRotate: number;
  /** planned: log file path → CloudWatch Logs group. */
  readonly cloudwatchLogs: ReadonlyMap<string, string>;
  /** log-sink endpoint for the audit trail (AUDIT_LOG) and the masked taupage.yaml (USER_DATA). */
  readonly instanceLogsUrl: string | undefined;
  readonly logsinkUsername: ConfigValue | undefined;
  readonly logsinkPassword: ConfigValue | undefined;

  // ── D. Metrics ─────────────────────────────────────────────────────────────────────────────
  /** planned: memory and disk metrics to CloudWatch every 5 minutes. */
  readonly enhancedCloudwatchMetrics: boolean;

  // ── E. SSH ─────────────────────────────────────────────────────────────────────────────────
  /** Host sshd ports (default [22]). */
  readonly sshPorts: readonly number[];
  /** sshd `GatewayPorts`. */
  readonly sshGatewayPorts: 'yes' | 'no' | 'clientspecified' | undefined;
  /** Keep the EC2 key pair's login. */
  readonly keepInstanceUsers: boolean;

  // ── F. Disks ───────────────────────────────────────────────────────────────────────────────
  /** Attached and assembled by the disk step (src/host/disks). */
  readonly volumes: VolumeOptions;
  /** In file order; host side `/mounts<path>` (src/host/disks). */
  readonly mounts: readonly MountOptions[];

  // ── G. Networking ──────────────────────────────────────────────────────────────────────────
  /** subnet id → NAT gateway IP for outbound HTTPS (Senza adds it). */
  readonly natGateways: ReadonlyMap<string, string>;
  /** etcd registration: a DNS domain, or `disable` (docs/etcd.md). */
  readonly etcdDiscoveryDomain: string | undefined;

  // ── H. OS tuning ───────────────────────────────────────────────────────────────────────────
  /** sysctl name → value. */
  readonly sysctl: ReadonlyMap<string, string>;
  /** allowed sysfs path → value (others are dropped with a warning). */
  readonly sysfs: ReadonlyMap<string, string>;

  // ── I. Health, notification, lifecycle ─────────────────────────────────────────────────────
  readonly healthCheckPath: string | undefined;
  readonly healthCheckPort: number | undefined;
  readonly healthCheckTimeoutSeconds: number;
  /** The local HTTP health check, derived from the three keys above and `ports`. */
  readonly healthCheck: HealthCheckConfig | undefined;
  /** planned: the `healthcheck:` load-balancer gate (ELB InService / ALB target healthy). */
  readonly loadBalancerHealthCheck: LoadBalancerHealthCheck | undefined;
  /** planned: cfn-signal target; `undefined` unless both stack and resource are set. */
  readonly notifyCfn: NotifyCfn | undefined;
  /** The ASG termination lifecycle hook to complete after draining (`lifecycle_hook`). */
  readonly lifecycleHook: string | undefined;
  /** Boot without starting the app (`maintenance: true`; Taupage issue #310). */
  readonly maintenance: boolean;

  // ── Secrets ────────────────────────────────────────────────────────────────────────────────
  /**
   * Every `aws:kms:` value anywhere in the config (known keys or not), for the boot to decrypt.
   * Typed fields hold the same ciphertexts as `ConfigValue`s.
   */
  readonly encryptedValues: readonly EncryptedValue[];
}

/** A config value: written in clear, or a KMS ciphertext (`aws:kms:<base64>`) to decrypt at boot. */
export type ConfigValue =
  | { readonly kind: 'plain'; readonly value: string }
  | { readonly kind: 'encrypted'; readonly ciphertext: Buffer };

export interface EncryptedValue {
  /** Dotted path of the value, e.g. `environment.DB_PASSWORD`, `logging.scalyr_account_key`. */
  readonly path: string;
  readonly ciphertext: Buffer;
  /**
   * true when the agent uses the value (a key it acts on): failing to decrypt it fails the boot.
   * Values under keys it ignores are decrypted too, but a failure there is only a warning.
   */
  readonly required: boolean;
}

export interface EnvironmentVariable {
  readonly name: string;
  readonly value: ConfigValue;
}

export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: 'tcp' | 'udp';
}

export type NetworkMode = 'bridge' | 'host' | 'none' | `container:${string}`;
export type ShutdownPolicy = 'never' | 'on-exit' | 'on-success';
export type ImagePullPolicy = 'if-not-present' | 'always' | 'never';

export interface HealthCheckConfig {
  readonly path: string;
  /** `health_check_port`, else the lowest TCP host port. */
  readonly port: number;
  readonly timeoutSeconds: number;
}

export interface RegistryCredential {
  /** undefined when the whole `auth` is an `aws:kms:` value: the user name is inside it. */
  readonly username: string | undefined;
  /**
   * The password, or — when `username` is undefined — the encrypted `auth`, which decrypts to
   * base64 of `user:password` (see `decodeRegistryAuth` in docker/registry-basic-auth.ts).
   */
  readonly password: ConfigValue;
  readonly email: string | undefined;
}

export interface DockerOptions {
  /** `docker.log_driver`, e.g. `json-file`, `awslogs`, `gelf`. */
  readonly logDriver: string | undefined;
  /** `docker.log_opt`: driver options (values may be secret, e.g. a Splunk token). */
  readonly logOptions: ReadonlyMap<string, ConfigValue>;
  /** `docker.stop_timeout`: seconds between SIGTERM and SIGKILL. */
  readonly stopTimeoutSeconds: number | undefined;
  /** `docker.memory`: hard limit in bytes. */
  readonly memory: number | undefined;
  /** `docker.memory_reservation`: soft limit in bytes. */
  readonly memoryReservation: number | undefined;
  /** `docker.cpus`: CPUs, e.g. 1.5. */
  readonly cpus: number | undefined;
  /** `docker.cpu_shares`: relative weight. */
  readonly cpuShares: number | undefined;
}

export type LogDestination = 's3' | 'scalyr' | 'scalyr_s3' | 'rsyslog' | 'none';

/** The `logging:` map. Unset keys are undefined; their defaults depend on each other (see docs). */
export interface LoggingOptions {
  readonly fluentdEnabled: boolean | undefined;
  readonly fluentdLoglevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | undefined;
  readonly logDestination: LogDestination | undefined;
  readonly syslogDestination: LogDestination | undefined;
  readonly applogDestination: LogDestination | undefined;
  readonly authlogDestination: LogDestination | undefined;
  readonly customlogDestination: LogDestination | undefined;
  readonly applogFilterExclude: string | undefined;
  readonly customlogFilterExclude: string | undefined;
  readonly s3Bucket: string | undefined;
  readonly s3Region: string | undefined;
  readonly s3Timekey: string | undefined;
  readonly s3Acl: string | undefined;
  readonly s3RawLogFormat: boolean | undefined;
  readonly rsyslogHost: string | undefined;
  readonly rsyslogPort: number | undefined;
  readonly rsyslogProtocol: 'tcp' | 'udp' | 'tls' | undefined;
  readonly rsyslogSeverity: string | undefined;
  readonly rsyslogProgram: string | undefined;
  readonly rsyslogHostname: string | undefined;
  readonly scalyrAccountKey: ConfigValue | undefined;
  readonly scalyrRegion: 'eu' | 'us' | undefined;
  readonly scalyrApplicationLogParser: string | undefined;
  readonly scalyrCustomLogParser: string | undefined;
  readonly scalyrAgentEnabled: boolean | undefined;
  readonly useScalyrAgentAll: boolean | undefined;
  readonly useScalyrAgentApplog: boolean | undefined;
  readonly useScalyrAgentCustomlog: boolean | undefined;
  readonly useScalyrAgentAuthlog: boolean | undefined;
  readonly useScalyrAgentSyslog: boolean | undefined;
  readonly scalyrAgentApplogSampling: readonly SamplingRule[] | undefined;
  readonly scalyrAgentCustomlogSampling: readonly SamplingRule[] | undefined;
  readonly scalyrAgentAuthlogSampling: readonly SamplingRule[] | undefined;
  readonly scalyrAgentSyslogSampling: readonly SamplingRule[] | undefined;
}

export interface SamplingRule {
  readonly matchExpression: string;
  readonly samplingRate: number;
}

export type LogrotateInterval = 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

export interface VolumeOptions {
  /** Device → EBS `Name` tag to attach; undefined when the tool fills it in later. */
  readonly ebs: ReadonlyMap<string, string | undefined>;
  /** md device → array. */
  readonly raid: ReadonlyMap<string, RaidArray>;
}

export interface RaidArray {
  readonly level: number;
  readonly devices: readonly string[];
}

export interface MountOptions {
  /** Path in the container; the host side is /mounts<path>. */
  readonly path: string;
  /** Device to mount; undefined for `none` (tmpfs) or a bind mount of an empty host dir. */
  readonly partition: string | undefined;
  readonly filesystem: string;
  /** true: format every boot; false: never; undefined: only when the volume is tagged so. */
  readonly eraseOnBoot: boolean | undefined;
  readonly options: string | undefined;
}

export type LoadBalancerHealthCheck =
  | { readonly type: 'elb'; readonly loadBalancerName: string }
  | { readonly type: 'alb'; readonly targetGroupArn: string };

export interface NotifyCfn {
  readonly stack: string;
  readonly resource: string;
}

export const KMS_PREFIX = 'aws:kms:';

/** The part of TaupageConfig read key by key from YAML; the rest is derived. */
export type TaupageKeys = Omit<TaupageConfig, 'healthCheck' | 'encryptedValues'>;
