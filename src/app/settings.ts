/**
 * How the agent itself is set up (not the app: that is the TaupageConfig). Each setting has a
 * command-line flag and a TAUPAGE_* environment variable; see `taupage agent --help`.
 */
export interface AgentSettings {
  readonly mode: 'ec2' | 'local';
  readonly imdsUrl: string;
  /** How long the boot waits for IMDS to answer at all. */
  readonly imdsBudgetMs: number;
  readonly kmsEndpoint: string | undefined;
  /** The AMI's defaults file; user data keys replace its keys. */
  readonly defaultsFile: string | undefined;
  readonly metaDir: string;
  readonly statusHost: string;
  readonly statusPort: number;
  readonly containerName: string;
  readonly applicationUser: string;
  readonly pullInactivityTimeoutMs: number;
  readonly logLevel: string;
  /** Local mode only. */
  readonly local?: {
    readonly configFile: string;
    readonly region: string;
    readonly devKeyFile: string;
    /** Leave the container running when `taupage local` exits. */
    readonly keepContainer: boolean;
  };
}

export const DEFAULTS = {
  imdsUrl: 'http://169.254.169.254',
  imdsBudgetSeconds: 60,
  defaultsFile: '/etc/taupage/defaults.yaml',
  metaDir: '/meta',
  localMetaDir: '.taupage/meta',
  statusListen: '127.0.0.1:9101',
  containerName: 'taupageapp',
  // uid:gid of the `application` user, fixed in the AMI (the original used uid 999).
  applicationUser: '999:999',
  pullInactivitySeconds: 120,
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
