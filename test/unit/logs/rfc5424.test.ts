import { describe, expect, it } from 'vitest';
import {
  escapeParamValue,
  formatStructuredData,
  headerField,
  octetCounted,
  rfc5424Prefix,
  sdName,
} from '../../../src/logs/rfc5424.js';

describe('RFC 5424 formatting', () => {
  it('escapes ", \\ and ] in SD-PARAM values (§6.3.3) and nothing else', () => {
    expect(escapeParamValue('a"b\\c]d[e=f')).toBe('a\\"b\\\\c\\]d[e=f');
  });

  it('formats structured data, and - when there is none', () => {
    expect(formatStructuredData(undefined)).toBe('-');
    expect(formatStructuredData([])).toBe('-');
    expect(
      formatStructuredData([
        {
          id: 'taupage@32473',
          params: [
            ['source', 'app'],
            ['msg', 'x"]'],
          ],
        },
        { id: 'origin', params: [] },
      ]),
    ).toBe('[taupage@32473 source="app" msg="x\\"\\]"][origin]');
  });

  it('keeps SD names to printable ASCII without = space ] " and at most 32 characters', () => {
    expect(sdName('a b=c]d"e')).toBe('a_b_c_d_e');
    expect(sdName('x'.repeat(40))).toBe('x'.repeat(32));
    expect(sdName('')).toBe('_');
  });

  it('keeps header fields to printable ASCII, cut to their length, - when empty', () => {
    expect(headerField('my host', 255)).toBe('my_host');
    expect(headerField('ünï', 48)).toBe('_n_');
    expect(headerField('', 48)).toBe('-');
    expect(headerField(undefined, 32)).toBe('-');
    expect(headerField('m'.repeat(40), 32)).toBe('m'.repeat(32));
  });

  it('builds <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD with PRI = facility × 8 + severity', () => {
    const prefix = rfc5424Prefix(
      {
        facility: 1,
        severity: 'notice',
        hostname: 'ip-10-0-0-1',
        appName: 'fluentd',
        msgId: 'application',
        structuredData: [{ id: 'taupage@32473', params: [['source', 'application']] }],
      },
      Date.parse('2026-03-04T05:06:07.089Z'),
    );
    expect(prefix).toBe(
      '<13>1 2026-03-04T05:06:07.089Z ip-10-0-0-1 fluentd - application [taupage@32473 source="application"] ',
    );
    expect(rfc5424Prefix({ facility: 0, severity: 'emerg', hostname: 'h', appName: 'a' }, 0)).toMatch(
      /^<0>1 1970-01-01T00:00:00.000Z h a - - - $/,
    );
    expect(rfc5424Prefix({ facility: 23, severity: 'debug', hostname: 'h', appName: 'a' }, 0)).toMatch(
      /^<191>1 /,
    );
  });

  it('frames with the length in bytes, not characters (RFC 6587 octet counting)', () => {
    expect(octetCounted(Buffer.from('héllo')).toString()).toBe('6 héllo');
  });
});
