import type {
  ConfigValue,
  LogDestination as DestinationKey,
  SamplingRule,
  TaupageConfig,
} from '../config/taupage-config.js';

/**
 * Which logs go to Scalyr and Logentries, from the original's keys (taupage-original.md §2 C and
 * §5.2). Pure. Scalyr got logs two ways in the original, both mapped onto one destination here:
 *
 * - scalyr-agent-2 (`scalyr_agent_enabled`, default "not fluentd_enabled"): the four
 *   `use_scalyr_agent_*` switches (default `use_scalyr_agent_all`, default "not fluentd_enabled");
 *   the custom logs also need `mount_custom_log`. A top-level key without a `logging:` section
 *   shipped everything this way.
 * - fluentd: a `logging.*_destination` of `scalyr` or `scalyr_s3`.
 *
 * A log chosen either way is shipped once.
 */

/** The names the original's Scalyr config gave each log (`logfile` attribute). */
export const SCALYR_LOGFILES = {
  application: '/var/log/application.log',
  syslog: '/var/log/syslog',
  authlog: '/var/log/auth.log',
  customlog: '/var/log-custom/*.log',
} as const;

export type ShippedLog = keyof typeof SCALYR_LOGFILES;

/** Where a source's lines go in Scalyr. */
export interface ScalyrRoute {
  readonly logfile: string;
  readonly parser: string;
  readonly sampling: readonly SamplingRule[];
}

export interface ScalyrPlan {
  readonly key: ConfigValue;
  readonly region: 'eu' | 'us';
  /** Which logs, in the order above. */
  readonly logs: ReadonlyMap<ShippedLog, ScalyrRoute>;
}

export interface LogentriesPlan {
  readonly token: ConfigValue;
  readonly logs: readonly ShippedLog[];
}

const DEFAULT_PARSER = 'slf4j';
// The parser Scalyr gives syslog-format files (scalyr-agent-2's `systemLog`).
const SYSTEM_LOG_PARSER = 'systemLog';

/** The Scalyr endpoints by `scalyr_region` (the original's agent used upload.eu.scalyr.com). */
export const SCALYR_ENDPOINTS = {
  eu: 'https://upload.eu.scalyr.com/addEvents',
  us: 'https://app.scalyr.com/addEvents',
} as const;

/** The Scalyr plan, or undefined when nothing goes there; what cannot be done → `warnings`. */
export function planScalyr(config: TaupageConfig, warnings: string[]): ScalyrPlan | undefined {
  const logging = config.logging;
  const key = logging?.scalyrAccountKey ?? config.scalyrAccountKey;
  const fluentd = logging?.fluentdEnabled === true;
  const agent = logging?.scalyrAgentEnabled ?? !fluentd;
  const all = logging?.useScalyrAgentAll ?? !fluentd;
  const chosen = new Set<ShippedLog>();
  if (agent) {
    if (logging?.useScalyrAgentApplog ?? all) chosen.add('application');
    if (logging?.useScalyrAgentSyslog ?? all) chosen.add('syslog');
    if (logging?.useScalyrAgentAuthlog ?? all) chosen.add('authlog');
    if ((logging?.useScalyrAgentCustomlog ?? all) && config.mountCustomLog) chosen.add('customlog');
  }
  if (logging !== undefined && logging.fluentdEnabled !== false) {
    const destinations: ReadonlyArray<readonly [ShippedLog, string, DestinationKey | undefined]> = [
      ['application', 'applog_destination', logging.applogDestination],
      ['syslog', 'syslog_destination', logging.syslogDestination],
      ['authlog', 'authlog_destination', logging.authlogDestination],
      ...(config.mountCustomLog
        ? [['customlog', 'customlog_destination', logging.customlogDestination] as const]
        : []),
    ];
    for (const [log, keyName, destination] of destinations) {
      const value = destination ?? logging.logDestination ?? 's3';
      if (value !== 'scalyr' && value !== 'scalyr_s3') continue;
      if (key === undefined) {
        warnings.push(
          `logging.${keyName} ${value}: expected a scalyr_account_key; the ${log} log is not shipped to Scalyr`,
        );
        continue;
      }
      chosen.add(log);
    }
  }
  if (key === undefined || chosen.size === 0) return undefined;
  const applicationParser =
    logging?.scalyrApplicationLogParser ?? config.scalyrApplicationLogParser ?? DEFAULT_PARSER;
  const customParser = logging?.scalyrCustomLogParser ?? config.scalyrCustomLogParser ?? DEFAULT_PARSER;
  const parsers: Record<ShippedLog, string> = {
    application: applicationParser,
    syslog: SYSTEM_LOG_PARSER,
    authlog: SYSTEM_LOG_PARSER,
    customlog: customParser,
  };
  const sampling: Record<ShippedLog, readonly SamplingRule[] | undefined> = {
    application: logging?.scalyrAgentApplogSampling,
    syslog: logging?.scalyrAgentSyslogSampling,
    authlog: logging?.scalyrAgentAuthlogSampling,
    customlog: logging?.scalyrAgentCustomlogSampling,
  };
  const logs = new Map<ShippedLog, ScalyrRoute>();
  for (const log of Object.keys(SCALYR_LOGFILES) as ShippedLog[]) {
    if (!chosen.has(log)) continue;
    logs.set(log, { logfile: SCALYR_LOGFILES[log], parser: parsers[log], sampling: sampling[log] ?? [] });
  }
  return { key, region: logging?.scalyrRegion ?? config.scalyrRegion ?? 'eu', logs };
}

/**
 * Logentries: with a token, the app output, syslog and auth.log go to that one log (what the
 * original's rsyslog forwarding sent). Undefined without a token.
 */
export function planLogentries(config: TaupageConfig, warnings: string[]): LogentriesPlan | undefined {
  const token = config.logentriesTokenId ?? config.logentriesTokenid;
  if (token === undefined) return undefined;
  if (config.logentriesTokenId !== undefined && config.logentriesTokenid !== undefined)
    warnings.push('logentries_tokenid: ignored, logentries_token_id is set');
  return { token, logs: ['application', 'syslog', 'authlog'] };
}
