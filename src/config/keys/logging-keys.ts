import {
  absolutePathNode,
  booleanNode,
  enumNode,
  integerNode,
  portNode,
  secretTextNode,
  sizeNode,
  stringNode,
  urlNode,
} from '../schema/scalar-nodes.js';
import { mapNode } from '../schema/collection-nodes.js';
import { field, objectNode, optional, type FieldSpecs, type KeyDoc } from '../schema/object-nodes.js';
import { INVALID, type SchemaNode } from '../schema/schema-node.js';
import type { LoggingOptions, TaupageKeys } from '../taupage-config.js';
import { SCALYR_LOGGING_FIELDS } from './scalyr-keys.js';

const SINCE = '0.2';
const planned = (meaning: string, defaultText?: string): KeyDoc =>
  defaultText === undefined
    ? { meaning, since: SINCE, status: 'planned' }
    : { meaning, since: SINCE, status: 'planned', defaultText };
const nested = (meaning: string, defaultText?: string): KeyDoc =>
  defaultText === undefined ? { meaning, since: SINCE } : { meaning, since: SINCE, defaultText };

/** A regular expression (`/…/` or bare), compiled at validation so a bad one is a config error. */
function regexText(): SchemaNode<string> {
  return stringNode({
    docType: 'regular expression',
    check: (t) => {
      try {
        new RegExp(/^\/(.*)\/$/s.exec(t)?.[1] ?? t);
        return undefined;
      } catch (error) {
        return `expected a regular expression (${error instanceof Error ? error.message : String(error)})`;
      }
    },
  });
}

const DESTINATIONS = ['s3', 'scalyr', 'scalyr_s3', 'rsyslog', 'none'] as const;
const INTERVALS = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
const S3_ACLS = [
  'private',
  'public-read',
  'public-read-write',
  'aws-exec-read',
  'authenticated-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
  'log-delivery-write',
] as const;
const SEVERITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;

function text(docType = 'string'): SchemaNode<string> {
  return stringNode({ docType });
}

function loggingNode(): SchemaNode<LoggingOptions> {
  const destination = (what: string) =>
    optional(
      `${what}_destination`,
      enumNode(DESTINATIONS),
      nested(
        `Where ${what === 'log' ? 'every log' : `the ${what}`} goes: \`s3\`, \`scalyr\`, \`scalyr_s3\` (both), \`rsyslog\` or \`none\`.`,
        what === 'log' ? '`s3`' : 'log_destination',
      ),
    );
  const flag = (key: string, meaning: string, defaultText: string) =>
    optional(key, booleanNode(), nested(meaning, defaultText));
  return objectNode<LoggingOptions>({
    docType: 'map of log-shipping options',
    unknownKey: 'is not a logging option; ignored',
    warnPlanned: true,
    check: (value, _raw, path, context) => {
      const chosen = [
        value.syslogDestination,
        value.applogDestination,
        value.authlogDestination,
        value.customlogDestination,
      ].map((d) => d ?? value.logDestination);
      if (value.rsyslogHost !== undefined || !chosen.includes('rsyslog')) return value;
      context.error(
        [...path, 'rsyslog_host'],
        'expected the remote syslog host name: a logging destination is rsyslog',
      );
      return INVALID;
    },
    fields: {
      fluentdEnabled: flag(
        'fluentd_enabled',
        'Ship the logs of the `*_destination` keys; `false` turns them off (the original also needed `true` when `logging` was present).',
        'true',
      ),
      fluentdLoglevel: optional(
        'fluentd_loglevel',
        enumNode(['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const),
        planned('fluentd’s own log level.', '`error`'),
      ),
      logDestination: destination('log'),
      syslogDestination: destination('syslog'),
      applogDestination: destination('applog'),
      authlogDestination: destination('authlog'),
      customlogDestination: destination('customlog'),
      applogFilterExclude: optional(
        'applog_filter_exclude',
        regexText(),
        nested(
          'Leave out app output lines matching it (`/INFO:/` or `INFO:`) from the S3 and rsyslog destinations.',
          'none',
        ),
      ),
      customlogFilterExclude: optional(
        'customlog_filter_exclude',
        regexText(),
        nested('Leave out custom log lines matching it from the S3 and rsyslog destinations.', 'none'),
      ),
      s3Bucket: optional(
        's3_bucket',
        text('S3 bucket name'),
        nested('Bucket for the s3 destination.', '`zalando-logging-<account>-<region>`'),
      ),
      s3Region: optional(
        's3_region',
        text('AWS region'),
        nested('Region of that bucket.', 'the instance’s region'),
      ),
      s3Timekey: optional(
        's3_timekey',
        stringNode({
          docType: 'fluentd duration (`5m`)',
          check: (t) => (/^\d+[smhd]?$/.test(t.trim()) ? undefined : 'expected a duration such as 5m or 1h'),
        }),
        nested('Time window of one S3 object per log (fluentd `timekey`): uploaded when it ends.', '`5m`'),
      ),
      s3Acl: optional(
        's3_acl',
        enumNode(S3_ACLS),
        nested('Canned ACL of uploaded objects.', '`bucket-owner-full-control`'),
      ),
      s3RawLogFormat: flag(
        's3_raw_log_format',
        'Upload raw lines (true) or JSON records `{time, source, message}` (false).',
        'true',
      ),
      rsyslogHost: optional(
        'rsyslog_host',
        text('host name'),
        nested('Remote syslog host for the rsyslog destination.', 'none'),
      ),
      rsyslogPort: optional('rsyslog_port', portNode(), nested('Remote syslog port.', '`514`')),
      rsyslogProtocol: optional(
        'rsyslog_protocol',
        enumNode(['tcp', 'udp', 'tls'] as const),
        nested(
          'Remote syslog transport: RFC 5424 over TCP (octet counting), UDP, or TLS (taupage only).',
          '`tcp`',
        ),
      ),
      rsyslogSeverity: optional(
        'rsyslog_severity',
        enumNode(SEVERITIES),
        nested('Severity of forwarded lines.', '`notice`'),
      ),
      rsyslogProgram: optional(
        'rsyslog_program',
        text(),
        nested('Program name of forwarded lines.', '`fluentd`'),
      ),
      rsyslogHostname: optional(
        'rsyslog_hostname',
        text('host name'),
        nested('Host name of forwarded lines.', 'the local host name'),
      ),
      ...SCALYR_LOGGING_FIELDS,
    },
  });
}

const LOG_FILE_PATH = absolutePathNode('log file path');

/** Group C: logging. */
export const LOGGING_FIELDS = {
  logging: optional('logging', loggingNode(), {
    meaning:
      'Log shipping of the app output, syslog, auth.log and custom logs to S3, remote syslog or Scalyr. When absent, nothing goes to S3 or syslog (the original’s fluentd shipped to S3).',
    since: SINCE,
    defaultText: 'absent',
  }),
  rsyslogApplicationLogFormat: optional(
    'rsyslog_application_log_format',
    text('rsyslog template or `legacy`'),
    planned('Line format of /var/log/application.log; `legacy` is rsyslog’s default format.', '`%msg%\\n`'),
  ),
  rsyslogMaxMessageSize: optional(
    'rsyslog_max_message_size',
    sizeNode('size (`4K`, `64k`)'),
    planned('rsyslog `$MaxMessageSize`.', 'rsyslog default (8k)'),
  ),
  rsyslogAwsMetadata: field(
    'rsyslog_aws_metadata',
    booleanNode(),
    false,
    planned('Prefix syslog lines with the AWS account and region.'),
  ),
  applicationLogrotateSize: field(
    'application_logrotate_size',
    sizeNode('size (`10M`, `1G`)'),
    256 * 1024 ** 2,
    planned('Rotate application.log at this size.', '`256M`'),
  ),
  applicationLogrotateInterval: field(
    'application_logrotate_interval',
    enumNode(INTERVALS),
    'weekly',
    planned('Rotate application.log at least this often.'),
  ),
  applicationLogrotateRotate: field(
    'application_logrotate_rotate',
    integerNode({ min: 0, max: 10_000 }),
    4,
    planned('Rotated application.log files to keep.'),
  ),
  applicationLogrotateDisableCopytruncate: field(
    'application_logrotate_disable_copytruncate',
    booleanNode(),
    false,
    planned('Leave out logrotate’s `copytruncate`.'),
  ),
  applicationLogrotateDisableDelaycompress: field(
    'application_logrotate_disable_delaycompress',
    booleanNode(),
    false,
    planned('Leave out logrotate’s `delaycompress`.'),
  ),
  applicationLogrotateDisableCompress: field(
    'application_logrotate_disable_compress',
    booleanNode(),
    false,
    planned('Do not compress rotated application.log files.'),
  ),
  customlogLogrotateSize: field(
    'customlog_logrotate_size',
    sizeNode('size (`10M`, `1G`)'),
    256 * 1024 ** 2,
    planned('Rotate custom logs at this size.', '`256M`'),
  ),
  customlogLogrotateInterval: field(
    'customlog_logrotate_interval',
    enumNode(INTERVALS),
    'daily',
    planned('Rotate custom logs at least this often.'),
  ),
  customlogLogrotateRotate: field(
    'customlog_logrotate_rotate',
    integerNode({ min: 0, max: 10_000 }),
    5,
    planned('Rotated custom log files to keep.'),
  ),
  cloudwatchLogs: field(
    'cloudwatch_logs',
    mapNode(text('log group name'), {
      docType: 'map `log file path: log group`',
      key: (key, path, context) => LOG_FILE_PATH.read(key, path, context),
    }),
    new Map(),
    {
      meaning:
        'Ship these files to CloudWatch Logs, one stream per instance; `/var/log/application.log` means the app container’s output, `/var/log/taupage.log` taupage’s own log (no file: teed from its logger, boot lines included).',
      since: SINCE,
      defaultText: '—',
    },
  ),
  instanceLogsUrl: optional('instance_logs_url', urlNode(), {
    meaning:
      'log-sink endpoint: the audit trail ships there continuously (`AUDIT_LOG`), the masked taupage.yaml once per boot (`USER_DATA`).',
    since: SINCE,
    defaultText: 'baked',
  }),
  logsinkUsername: optional('logsink_username', secretTextNode(), {
    meaning: 'log-sink basic-auth user (baked); may be `aws:kms:`.',
    since: SINCE,
    defaultText: 'baked',
  }),
  logsinkPassword: optional('logsink_password', secretTextNode(), {
    meaning: 'log-sink basic-auth password (baked); may be `aws:kms:`.',
    since: SINCE,
    defaultText: 'baked',
  }),
} satisfies Partial<FieldSpecs<TaupageKeys>>;
