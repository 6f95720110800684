import type {
  ConfigValue,
  LogDestination as DestinationKey,
  TaupageConfig,
} from '../config/taupage-config.js';
import { AGENT_LOG_PATH, AGENT_SOURCE } from './agent-log-source.js';
import { parseTimekey } from './s3-log-chunks.js';
import { planLogentries, planScalyr, type ScalyrRoute, type ShippedLog } from './scalyr-plan.js';
import type { SyslogProtocol } from './syslog-destination.js';
import type { SyslogSeverity } from './rfc5424.js';

/**
 * In the original, the container's output went to /var/log/application.log (syslog driver +
 * rsyslog), and `cloudwatch_logs: {/var/log/application.log: group}` shipped it. taupage reads
 * the output from the Docker API instead, so that path means "the app container's output".
 */
export const APPLICATION_LOG_PATH = '/var/log/application.log';
/** The source name of the app container's output. */
export const APPLICATION_SOURCE = 'application';

/** The host files behind the `logging.*_destination` keys (injectable for tests). */
export interface HostLogPaths {
  readonly syslog: string;
  readonly authlog: string;
  /** The custom log files (`mount_custom_log`: the app's /var/log is the host's /var/log-custom). */
  readonly customlog: string;
}

export const HOST_LOG_PATHS: HostLogPaths = {
  syslog: '/var/log/syslog',
  authlog: '/var/log/auth.log',
  customlog: '/var/log-custom/*.log',
};

export interface SourcePlan {
  /** The source's name in records and routes: `application`, or the file path/pattern. */
  readonly name: string;
  /**
   * The file path or pattern tailed; undefined: not a file, the app container's output
   * (APPLICATION_SOURCE) or taupage's own log (AGENT_SOURCE).
   */
  readonly file: string | undefined;
  /** JWTs are masked in the application and custom logs, as the original did. */
  readonly maskJwt: boolean;
}

export interface RoutePlan {
  /** The source as destinations name it: `application`, `syslog`, `authlog`, `customlog`. */
  readonly label: string;
  readonly exclude: RegExp | undefined;
}

export interface LogShippingPlan {
  readonly sources: readonly SourcePlan[];
  /** Source name → log group. */
  readonly cloudWatchLogs: Readonly<Record<string, string>>;
  readonly s3:
    | {
        readonly bucket: string;
        readonly region: string;
        readonly timekeyMs: number;
        readonly acl: string;
        readonly raw: boolean;
        readonly routes: Readonly<Record<string, RoutePlan>>;
      }
    | undefined;
  readonly syslog:
    | {
        readonly host: string;
        readonly port: number;
        readonly protocol: SyslogProtocol;
        readonly severity: SyslogSeverity;
        readonly appName: string;
        readonly hostname: string | undefined;
        readonly routes: Readonly<Record<string, RoutePlan>>;
      }
    | undefined;
  /** Source name → `logfile` and `parser` in Scalyr; the write key (may be encrypted). */
  readonly scalyr:
    | {
        readonly key: ConfigValue;
        readonly region: 'eu' | 'us';
        readonly routes: Readonly<Record<string, ScalyrRoute>>;
      }
    | undefined;
  /** The Logentries token and the sources sent with it (source name → the log's name). */
  readonly logentries:
    { readonly token: ConfigValue; readonly routes: Readonly<Record<string, ShippedLog>> } | undefined;
  /** What the agent does differently from what the config asks (logged as warnings). */
  readonly warnings: readonly string[];
}

/** The source behind each log of the original's four (its name, file and JWT masking). */
export function shippedLogSource(log: ShippedLog, paths: HostLogPaths): SourcePlan {
  switch (log) {
    case 'application':
      return { name: APPLICATION_SOURCE, file: undefined, maskJwt: true };
    case 'syslog':
      return { name: paths.syslog, file: paths.syslog, maskJwt: false };
    case 'authlog':
      return { name: paths.authlog, file: paths.authlog, maskJwt: false };
    case 'customlog':
      return { name: paths.customlog, file: paths.customlog, maskJwt: true };
  }
}

/**
 * `applog_filter_exclude` is a regular expression; fluentd ≥ 1.11 reads `/…/` as a regexp
 * literal (the documented example is `'/INFO:/'`), so the slashes are taken off.
 */
export function parseFilterRegex(text: string): RegExp {
  const literal = /^\/(.*)\/$/s.exec(text);
  return new RegExp(literal?.[1] ?? text);
}

/** Turns `cloudwatch_logs` and `logging:` into what to read and where to send it. Pure. */
export function planLogShipping(
  config: TaupageConfig,
  identity: { readonly region: string; readonly accountId: string },
  paths: HostLogPaths = HOST_LOG_PATHS,
): LogShippingPlan {
  const sources = new Map<string, SourcePlan>();
  const addSource = (name: string, file: string | undefined, maskJwt: boolean): void => {
    const existing = sources.get(name);
    sources.set(name, { name, file, maskJwt: maskJwt || (existing?.maskJwt ?? false) });
  };
  const cloudWatchLogs: Record<string, string> = {};
  for (const [path, group] of config.cloudwatchLogs) {
    const name =
      path === APPLICATION_LOG_PATH ? APPLICATION_SOURCE : path === AGENT_LOG_PATH ? AGENT_SOURCE : path;
    addSource(name, name === path ? path : undefined, name === APPLICATION_SOURCE);
    cloudWatchLogs[name] = group;
  }
  const warnings: string[] = [];
  const logging = config.logging;
  const s3Routes: Record<string, RoutePlan> = {};
  const syslogRoutes: Record<string, RoutePlan> = {};
  if (logging !== undefined && logging.fluentdEnabled === false) {
    warnings.push('logging.fluentd_enabled is false: the logging.*_destination keys ship nothing');
  } else if (logging !== undefined) {
    const inputs: ReadonlyArray<{
      label: string;
      key: string;
      destination: DestinationKey | undefined;
      file: string | undefined;
      exclude: string | undefined;
      maskJwt: boolean;
    }> = [
      {
        label: 'application',
        key: 'applog_destination',
        destination: logging.applogDestination,
        file: undefined,
        exclude: logging.applogFilterExclude,
        maskJwt: true,
      },
      {
        label: 'syslog',
        key: 'syslog_destination',
        destination: logging.syslogDestination,
        file: paths.syslog,
        exclude: undefined,
        maskJwt: false,
      },
      {
        label: 'authlog',
        key: 'authlog_destination',
        destination: logging.authlogDestination,
        file: paths.authlog,
        exclude: undefined,
        maskJwt: false,
      },
      ...(config.mountCustomLog
        ? [
            {
              label: 'customlog',
              key: 'customlog_destination',
              destination: logging.customlogDestination,
              file: paths.customlog,
              exclude: logging.customlogFilterExclude,
              maskJwt: true,
            },
          ]
        : []),
    ];
    for (const input of inputs) {
      const destination = input.destination ?? logging.logDestination ?? 's3';
      const name = input.file ?? APPLICATION_SOURCE;
      const route: RoutePlan = {
        label: input.label,
        exclude: input.exclude === undefined ? undefined : parseFilterRegex(input.exclude),
      };
      // scalyr and scalyr_s3: the Scalyr half is planScalyr's.
      if (destination === 's3' || destination === 'scalyr_s3') s3Routes[name] = route;
      else if (destination === 'rsyslog') {
        if (logging.rsyslogHost === undefined) {
          warnings.push(
            `logging.rsyslog_host: expected a host name for ${input.key} rsyslog; the ${input.label} log is not shipped`,
          );
          continue;
        }
        syslogRoutes[name] = route;
      } else continue;
      addSource(name, input.file, input.maskJwt);
    }
  }
  const scalyr = planScalyr(config, warnings);
  const scalyrRoutes: Record<string, ScalyrRoute> = {};
  for (const [log, route] of scalyr?.logs ?? []) {
    const source = shippedLogSource(log, paths);
    addSource(source.name, source.file, source.maskJwt);
    scalyrRoutes[source.name] = route;
  }
  const logentries = planLogentries(config, warnings);
  const logentriesRoutes: Record<string, ShippedLog> = {};
  for (const log of logentries?.logs ?? []) {
    const source = shippedLogSource(log, paths);
    addSource(source.name, source.file, source.maskJwt);
    logentriesRoutes[source.name] = log;
  }
  return {
    sources: [...sources.values()],
    cloudWatchLogs,
    scalyr:
      scalyr === undefined ? undefined : { key: scalyr.key, region: scalyr.region, routes: scalyrRoutes },
    logentries: logentries === undefined ? undefined : { token: logentries.token, routes: logentriesRoutes },
    s3:
      logging === undefined || Object.keys(s3Routes).length === 0
        ? undefined
        : {
            bucket: logging.s3Bucket ?? `zalando-logging-${identity.accountId}-${identity.region}`,
            region: logging.s3Region ?? identity.region,
            timekeyMs: parseTimekey(logging.s3Timekey ?? '5m'),
            acl: logging.s3Acl ?? 'bucket-owner-full-control',
            raw: logging.s3RawLogFormat ?? true,
            routes: s3Routes,
          },
    syslog:
      logging?.rsyslogHost === undefined || Object.keys(syslogRoutes).length === 0
        ? undefined
        : {
            host: logging.rsyslogHost,
            port: logging.rsyslogPort ?? 514,
            protocol: logging.rsyslogProtocol ?? 'tcp',
            severity: (logging.rsyslogSeverity ?? 'notice') as SyslogSeverity,
            appName: logging.rsyslogProgram ?? 'fluentd',
            hostname: logging.rsyslogHostname,
            routes: syslogRoutes,
          },
    warnings,
  };
}
