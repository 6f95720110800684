import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import type { TaupageConfig } from '../../../src/config/taupage-config.js';
import { parseFilterRegex, planLogShipping } from '../../../src/logs/log-shipping-plan.js';

const BASE = '#taupage-ami-config\nruntime: Docker\nsource: registry.example.org/team/app:1.0\n';
const identity = { region: 'eu-central-1', accountId: '123456789012' };
const paths = { syslog: '/h/syslog', authlog: '/h/auth.log', customlog: '/h/custom/*.log' };

function config(yaml: string): TaupageConfig {
  const { config: loaded, errors } = loadConfig(Buffer.from(BASE + yaml), {}).validation;
  expect(errors).toEqual([]);
  if (loaded === undefined) throw new Error('no config');
  return loaded;
}

function errorsOf(yaml: string): string[] {
  return loadConfig(Buffer.from(BASE + yaml), {}).validation.errors.map((e) => `${e.path}: ${e.message}`);
}

describe('planLogShipping: cloudwatch_logs and logging:', () => {
  it('ships nothing to S3 or syslog without a logging: section', () => {
    const plan = planLogShipping(config(''), identity, paths);
    expect(plan).toMatchObject({ sources: [], s3: undefined, syslog: undefined, warnings: [] });
  });

  it('sends every log to S3 when logging: is present: app output, syslog, auth.log (custom logs need mount_custom_log)', () => {
    const plan = planLogShipping(config('logging:\n  s3_timekey: 1h\n'), identity, paths);
    expect(plan.sources).toEqual([
      { name: 'application', file: undefined, maskJwt: true },
      { name: '/h/syslog', file: '/h/syslog', maskJwt: false },
      { name: '/h/auth.log', file: '/h/auth.log', maskJwt: false },
    ]);
    expect(plan.s3).toEqual({
      bucket: 'zalando-logging-123456789012-eu-central-1',
      region: 'eu-central-1',
      timekeyMs: 3_600_000,
      acl: 'bucket-owner-full-control',
      raw: true,
      routes: {
        application: { label: 'application', exclude: undefined },
        '/h/syslog': { label: 'syslog', exclude: undefined },
        '/h/auth.log': { label: 'authlog', exclude: undefined },
      },
    });
  });

  it('routes per *_destination, with log_destination as their default, and filters app and custom logs', () => {
    const plan = planLogShipping(
      config(
        [
          'mount_custom_log: true',
          'logging:',
          '  log_destination: rsyslog',
          '  syslog_destination: none',
          '  authlog_destination: s3',
          "  applog_filter_exclude: '/INFO:/'",
          '  customlog_filter_exclude: DEBUG',
          '  rsyslog_host: logs.example.org',
          '  rsyslog_protocol: tls',
          '  rsyslog_port: 6514',
          '  s3_bucket: my-bucket',
          '  s3_region: us-east-1',
          '  s3_acl: private',
          '  s3_raw_log_format: false',
          '',
        ].join('\n'),
      ),
      identity,
      paths,
    );
    expect(plan.sources.map((s) => s.name)).toEqual(['application', '/h/auth.log', '/h/custom/*.log']);
    expect(plan.s3).toMatchObject({ bucket: 'my-bucket', region: 'us-east-1', acl: 'private', raw: false });
    expect(Object.keys(plan.s3?.routes ?? {})).toEqual(['/h/auth.log']);
    expect(plan.syslog).toMatchObject({
      host: 'logs.example.org',
      port: 6514,
      protocol: 'tls',
      severity: 'notice',
      appName: 'fluentd',
    });
    const routes = plan.syslog?.routes ?? {};
    expect(Object.keys(routes)).toEqual(['application', '/h/custom/*.log']);
    expect(routes.application?.exclude?.test('x INFO: y')).toBe(true);
    expect(routes.application?.exclude?.test('x /INFO:/ y')).toBe(true);
    expect(routes.application?.exclude?.test('ERROR')).toBe(false);
    expect(routes['/h/custom/*.log']?.exclude?.test('DEBUG x')).toBe(true);
  });

  it('shares one source between cloudwatch_logs and logging (one reader per file)', () => {
    const plan = planLogShipping(
      config(
        'cloudwatch_logs:\n  /var/log/application.log: app\n  /h/syslog: sys\nlogging:\n  log_destination: s3\n  authlog_destination: none\n',
      ),
      identity,
      paths,
    );
    expect(plan.sources.map((s) => s.name)).toEqual(['application', '/h/syslog']);
    expect(plan.cloudWatchLogs).toEqual({ application: 'app', '/h/syslog': 'sys' });
    expect(Object.keys(plan.s3?.routes ?? {})).toEqual(['application', '/h/syslog']);
  });

  it('reads /var/log/taupage.log as the agent’s own log (source taupage, no file, no JWT masking)', () => {
    const plan = planLogShipping(
      config('cloudwatch_logs:\n  /var/log/taupage.log: agent\n  /var/log/application.log: app\n'),
      identity,
      paths,
    );
    expect(plan.sources).toEqual([
      { name: 'taupage', file: undefined, maskJwt: false },
      { name: 'application', file: undefined, maskJwt: true },
    ]);
    expect(plan.cloudWatchLogs).toEqual({ taupage: 'agent', application: 'app' });
  });

  it('scalyr without a key: warned, not shipped; scalyr_s3 still ships to S3', () => {
    const plan = planLogShipping(
      config(
        'logging:\n  log_destination: none\n  applog_destination: scalyr\n  syslog_destination: scalyr_s3\n',
      ),
      identity,
      paths,
    );
    expect(plan.warnings).toEqual([
      'logging.applog_destination scalyr: expected a scalyr_account_key; the application log is not shipped to Scalyr',
      'logging.syslog_destination scalyr_s3: expected a scalyr_account_key; the syslog log is not shipped to Scalyr',
    ]);
    expect(plan.sources.map((s) => s.name)).toEqual(['/h/syslog']);
    expect(plan.scalyr).toBeUndefined();
  });

  it('scalyr_s3 with a key: the same source goes to S3 and to Scalyr, read once', () => {
    const plan = planLogShipping(
      config(
        'logging:\n  fluentd_enabled: true\n  log_destination: none\n  syslog_destination: scalyr_s3\n  scalyr_account_key: k3y-value\n',
      ),
      identity,
      paths,
    );
    expect(plan.warnings).toEqual([]);
    expect(plan.sources.map((s) => s.name)).toEqual(['/h/syslog']);
    expect(Object.keys(plan.s3?.routes ?? {})).toEqual(['/h/syslog']);
    expect(plan.scalyr?.routes).toEqual({
      '/h/syslog': { logfile: '/var/log/syslog', parser: 'systemLog', sampling: [] },
    });
  });

  it('ships nothing with fluentd_enabled: false, and says so', () => {
    const plan = planLogShipping(config('logging:\n  fluentd_enabled: false\n'), identity, paths);
    expect(plan.sources).toEqual([]);
    expect(plan.warnings).toEqual([
      'logging.fluentd_enabled is false: the logging.*_destination keys ship nothing',
    ]);
  });

  it('refuses an rsyslog destination without rsyslog_host, and a filter that is not a regular expression', () => {
    expect(errorsOf('logging:\n  applog_destination: rsyslog\n')).toEqual([
      'logging.rsyslog_host: expected the remote syslog host name: a logging destination is rsyslog',
    ]);
    expect(errorsOf("logging:\n  applog_filter_exclude: '(unclosed'\n")).toEqual([
      expect.stringMatching(/^logging\.applog_filter_exclude: expected a regular expression \(.*\), found/),
    ]);
  });

  it('reads /…/ filters as regexp literals and bare text as a regular expression', () => {
    expect(parseFilterRegex('/a.c/').source).toBe('a.c');
    expect(parseFilterRegex('a/b').source).toBe('a\\/b');
  });
});
