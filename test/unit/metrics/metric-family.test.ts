import { describe, expect, it } from 'vitest';
import { gauge, renderFamilies, single } from '../../../src/metrics/metric-family.js';

describe('renderFamilies (text exposition format 0.0.4)', () => {
  it('escapes label values and help, formats NaN and infinities, skips empty families', () => {
    const text = renderFamilies([
      gauge('a', 'line one\nline "two" \\', [{ labels: { path: 'C:\\x "y"\nz' }, value: NaN }]),
      gauge('b', 'empty', []),
      gauge('c', 'inf', [
        { labels: {}, value: Infinity },
        { labels: {}, value: -Infinity },
      ]),
      gauge('d', 'plain', single(1.5e-7)),
    ]);
    expect(text).toBe(
      [
        '# HELP a line one\\nline "two" \\\\',
        '# TYPE a gauge',
        'a{path="C:\\\\x \\"y\\"\\nz"} NaN',
        '# HELP c inf',
        '# TYPE c gauge',
        'c +Inf',
        'c -Inf',
        '# HELP d plain',
        '# TYPE d gauge',
        'd 1.5e-7',
        '',
      ].join('\n'),
    );
  });
});
