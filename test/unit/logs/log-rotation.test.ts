import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { syslogTimestamp } from '../../../src/logs/application-log-destination.js';
import { applicationLogRotation, periodStart, rotationDue } from '../../../src/logs/log-rotation.js';

function rotationOf(yaml: string) {
  const { validation } = loadConfig(
    Buffer.from(`#taupage-ami-config\nruntime: Docker\nsource: registry.example.org/team/app:1.0\n${yaml}`),
    {},
  );
  if (validation.config === undefined) throw new Error(JSON.stringify(validation.errors));
  return {
    policy: applicationLogRotation(validation.config),
    warnings: validation.warnings.map((w) => `${w.path}: ${w.message}`),
  };
}

const at = (iso: string): number => Date.parse(iso);

describe('application.log rotation policy', () => {
  it('has the original’s defaults: 256M, weekly, 4 kept, compress, delaycompress', () => {
    expect(rotationOf('').policy).toEqual({
      sizeBytes: 256 * 1024 ** 2,
      interval: 'weekly',
      keep: 4,
      compress: true,
      delayCompress: true,
    });
  });

  it('reads application_logrotate_size/_interval/_rotate and the disable switches', () => {
    expect(
      rotationOf(
        'application_logrotate_size: 10M\napplication_logrotate_interval: hourly\napplication_logrotate_rotate: 0\n' +
          'application_logrotate_disable_compress: true\napplication_logrotate_disable_delaycompress: true\n',
      ).policy,
    ).toEqual({
      sizeBytes: 10 * 1024 ** 2,
      interval: 'hourly',
      keep: 0,
      compress: false,
      delayCompress: false,
    });
  });

  it('reads the 2015 spellings _filesize/_period when the current keys are not set, with a warning', () => {
    const { policy, warnings } = rotationOf(
      'application_logrotate_filesize: 1G\napplication_logrotate_period: daily\n',
    );
    expect([policy.sizeBytes, policy.interval]).toEqual([1024 ** 3, 'daily']);
    expect(warnings).toEqual([
      'application_logrotate_filesize: is the pre-2015 spelling of application_logrotate_size; read as application_logrotate_size when that is not set',
      'application_logrotate_period: is the pre-2015 spelling of application_logrotate_interval; read as application_logrotate_interval when that is not set',
    ]);
    const both = rotationOf('application_logrotate_filesize: 1G\napplication_logrotate_size: 10M\n').policy;
    expect(both.sizeBytes).toBe(10 * 1024 ** 2);
  });

  it('refuses what logrotate would have choked on later (the original pasted it in raw)', () => {
    for (const yaml of [
      'application_logrotate_size: "10M\\n  postrotate"\n',
      'application_logrotate_interval: "daily\\nfirstaction"\n',
      'application_logrotate_rotate: "4; rm -rf /"\n',
      'application_logrotate_filesize: lots\n',
    ]) {
      const { validation } = loadConfig(
        Buffer.from(
          `#taupage-ami-config\nruntime: Docker\nsource: registry.example.org/team/app:1.0\n${yaml}`,
        ),
        {},
      );
      expect(validation.config, yaml).toBeUndefined();
      expect(validation.errors[0]?.path).toMatch(/^application_logrotate_/);
    }
  });

  it('is due at the size, or when the file was started in an earlier period; never when empty', () => {
    const policy = {
      sizeBytes: 100,
      interval: 'daily' as const,
      keep: 4,
      compress: true,
      delayCompress: true,
    };
    const start = at('2026-12-07T10:00:00Z');
    expect(rotationDue(policy, 99, start, at('2026-12-07T23:59:59Z'))).toBe(false);
    expect(rotationDue(policy, 100, start, at('2026-12-07T10:00:01Z'))).toBe(true);
    expect(rotationDue(policy, 1, start, at('2026-12-08T00:00:00Z'))).toBe(true);
    expect(rotationDue(policy, 0, start, at('2027-01-01T00:00:00Z'))).toBe(false);
    expect(periodStart(at('2026-12-09T13:14:15Z'), 'weekly')).toBe(at('2026-12-06T00:00:00Z')); // a Sunday
    expect(periodStart(at('2026-12-09T13:14:15Z'), 'hourly')).toBe(at('2026-12-09T13:00:00Z'));
    expect(periodStart(at('2026-12-09T13:14:15Z'), 'monthly')).toBe(at('2026-12-01T00:00:00Z'));
    expect(periodStart(at('2026-12-09T13:14:15Z'), 'yearly')).toBe(at('2026-01-01T00:00:00Z'));
  });

  it('stamps lines as rsyslog’s traditional format did (space-padded day, UTC)', () => {
    expect(syslogTimestamp(at('2026-05-21T11:06:04.123Z'))).toBe('May 21 11:06:04');
    expect(syslogTimestamp(at('2026-05-01T01:02:03Z'))).toBe('May  1 01:02:03');
  });
});
