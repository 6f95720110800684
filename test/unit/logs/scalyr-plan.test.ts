import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import type { TaupageConfig } from '../../../src/config/taupage-config.js';
import { planLogShipping } from '../../../src/logs/log-shipping-plan.js';
import { planLogentries, planScalyr } from '../../../src/logs/scalyr-plan.js';

const BASE = '#taupage-ami-config\nruntime: Docker\nsource: registry.example.org/team/app:1.0\n';
const identity = { region: 'eu-central-1', accountId: '123456789012' };
const paths = { syslog: '/h/syslog', authlog: '/h/auth.log', customlog: '/h/custom/*.log' };

function load(yaml: string) {
  return loadConfig(Buffer.from(BASE + yaml), {}).validation;
}

function config(yaml: string): TaupageConfig {
  const { config: loaded, errors } = load(yaml);
  expect(errors).toEqual([]);
  if (loaded === undefined) throw new Error('no config');
  return loaded;
}

function logs(yaml: string): Record<string, { logfile: string; parser: string }> {
  const plan = planScalyr(config(yaml), []);
  return Object.fromEntries(
    [...(plan?.logs ?? [])].map(([log, route]) => [log, { logfile: route.logfile, parser: route.parser }]),
  );
}

describe('planScalyr: the original scalyr-agent-2 and fluentd keys', () => {
  it('a top-level key without logging: ships the app output, syslog and auth.log (as the original agent did)', () => {
    expect(logs('scalyr_account_key: abcd1234\n')).toEqual({
      application: { logfile: '/var/log/application.log', parser: 'slf4j' },
      syslog: { logfile: '/var/log/syslog', parser: 'systemLog' },
      authlog: { logfile: '/var/log/auth.log', parser: 'systemLog' },
    });
    expect(planScalyr(config('scalyr_account_key: abcd1234\n'), [])?.region).toBe('eu');
  });

  it('custom logs only with mount_custom_log, with scalyr_custom_log_parser', () => {
    expect(
      logs('scalyr_account_key: abcd1234\nmount_custom_log: true\nscalyr_custom_log_parser: json\n')
        .customlog,
    ).toEqual({ logfile: '/var/log-custom/*.log', parser: 'json' });
  });

  it('logging.* wins over the top-level keys (key, region, parser)', () => {
    const plan = planScalyr(
      config(
        'scalyr_account_key: top-level\nscalyr_region: eu\nscalyr_application_log_parser: top\n' +
          'logging:\n  scalyr_account_key: nested\n  scalyr_region: us\n  scalyr_application_log_parser: nested\n',
      ),
      [],
    );
    expect(plan?.key).toEqual({ kind: 'plain', value: 'nested' });
    expect(plan?.region).toBe('us');
    expect(plan?.logs.get('application')?.parser).toBe('nested');
  });

  it('the use_scalyr_agent_* switches pick the logs; use_scalyr_agent_all is their default', () => {
    expect(
      Object.keys(
        logs(
          'scalyr_account_key: k3y1\nlogging:\n  log_destination: none\n  use_scalyr_agent_syslog: false\n',
        ),
      ),
    ).toEqual(['application', 'authlog']);
    expect(
      Object.keys(
        logs(
          'scalyr_account_key: k3y1\nlogging:\n  log_destination: none\n  use_scalyr_agent_all: false\n  use_scalyr_agent_applog: true\n',
        ),
      ),
    ).toEqual(['application']);
  });

  it('fluentd_enabled: true turns the agent path off by default; log_destination: scalyr then picks the logs', () => {
    expect(logs('scalyr_account_key: k3y1\nlogging:\n  fluentd_enabled: true\n')).toEqual({});
    expect(
      Object.keys(
        logs(
          'scalyr_account_key: k3y1\nlogging:\n  fluentd_enabled: true\n  log_destination: none\n  applog_destination: scalyr\n',
        ),
      ),
    ).toEqual(['application']);
  });

  it('scalyr_agent_enabled: false ships nothing to Scalyr unless a *_destination says scalyr', () => {
    expect(
      logs('scalyr_account_key: k3y1\nlogging:\n  log_destination: none\n  scalyr_agent_enabled: false\n'),
    ).toEqual({});
  });

  it('takes sampling rules as a list or as the original’s YAML string', () => {
    const plan = planScalyr(
      config(
        'scalyr_account_key: k3y1\nlogging:\n  log_destination: none\n' +
          '  scalyr_agent_applog_sampling: "[{match_expression: DEBUG, sampling_rate: 0.1}]"\n' +
          '  scalyr_agent_syslog_sampling:\n    - {match_expression: CRON, sampling_rate: 0}\n',
      ),
      [],
    );
    expect(plan?.logs.get('application')?.sampling).toEqual([
      { matchExpression: 'DEBUG', samplingRate: 0.1 },
    ]);
    expect(plan?.logs.get('syslog')?.sampling).toEqual([{ matchExpression: 'CRON', samplingRate: 0 }]);
  });

  it('refuses a match_expression that is not a regular expression, naming the key path', () => {
    expect(
      load(
        'logging:\n  scalyr_agent_applog_sampling:\n    - {match_expression: "(", sampling_rate: 1}\n',
      ).errors.map((e) => e.path),
    ).toEqual(['logging.scalyr_agent_applog_sampling[0].match_expression']);
  });

  it('the Scalyr keys are supported now: no "not supported yet" warning', () => {
    const warnings = load(
      'scalyr_account_key: k3y1\nscalyr_region: us\nlogging:\n  use_scalyr_agent_all: true\n',
    ).warnings.map((w) => `${w.path}: ${w.message}`);
    expect(warnings).toEqual([]);
  });

  it('planLogShipping routes each chosen log to its source (host paths) once', () => {
    const plan = planLogShipping(config('scalyr_account_key: abcd1234\n'), identity, paths);
    expect(plan.sources.map((s) => s.name)).toEqual(['application', '/h/syslog', '/h/auth.log']);
    expect(Object.keys(plan.scalyr?.routes ?? {})).toEqual(['application', '/h/syslog', '/h/auth.log']);
    expect(plan.s3).toBeUndefined();
  });
});

describe('planLogentries: the token-based input', () => {
  it('ships the app output, syslog and auth.log with logentries_token_id (or logentries_tokenid)', () => {
    expect(planLogentries(config('logentries_token_id: 2bfbea1e-10c3\n'), [])).toEqual({
      token: { kind: 'plain', value: '2bfbea1e-10c3' },
      logs: ['application', 'syslog', 'authlog'],
    });
    expect(planLogentries(config('logentries_tokenid: other-spelling\n'), [])?.token).toEqual({
      kind: 'plain',
      value: 'other-spelling',
    });
  });

  it('warns when both spellings are set (logentries_token_id wins)', () => {
    const warnings: string[] = [];
    expect(
      planLogentries(config('logentries_token_id: aaaa\nlogentries_tokenid: bbbb\n'), warnings)?.token,
    ).toEqual({ kind: 'plain', value: 'aaaa' });
    expect(warnings).toEqual(['logentries_tokenid: ignored, logentries_token_id is set']);
  });

  it('logentries_account_key: one warning that says what to set instead', () => {
    const warnings = load('logentries_account_key: 123-123\n').warnings.map((w) => `${w.path}: ${w.message}`);
    expect(warnings).toEqual([
      'logentries_account_key: is ignored: Logentries (Rapid7 InsightOps) no longer registers hosts by account key; create a Token TCP log there and set logentries_token_id to its token (may be aws:kms:)',
    ]);
  });
});
