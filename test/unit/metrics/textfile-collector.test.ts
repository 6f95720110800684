import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseTextfile, readTextfiles } from '../../../src/metrics/textfile-collector.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-textfile-unit-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('textfile collector', () => {
  it('groups histogram series under their family and keeps HELP and TYPE', () => {
    const families = parseTextfile(
      '# HELP job_seconds Job duration.\n# TYPE job_seconds histogram\njob_seconds_bucket{le="1"} 2\njob_seconds_bucket{le="+Inf"} 3\njob_seconds_sum 2.5\njob_seconds_count 3\n# a comment\nplain_total 7\n',
    );
    expect([...families.keys()]).toEqual(['job_seconds', 'plain_total']);
    expect(families.get('job_seconds')?.lines).toHaveLength(4);
    expect(families.get('job_seconds')?.type).toBe('histogram');
  });

  it('rejects client-side timestamps and garbage, like node_exporter', () => {
    expect(() => parseTextfile('x 1 1700000000000\n')).toThrow(/timestamps/);
    expect(() => parseTextfile('x{a="1" 2\n')).toThrow();
    expect(() => parseTextfile('x one\n')).toThrow(/invalid value/);
  });

  it('merges *.prom files, flags broken ones and ones that shadow built-in metrics', async () => {
    await writeFile(join(dir, 'a.prom'), 'backup_ok{job="db"} 1\n');
    await writeFile(join(dir, 'b.prom'), 'backup_ok{job="web"} 0\n');
    await writeFile(join(dir, 'c.prom'), 'node_load1 99\n');
    await writeFile(join(dir, 'ignored.txt'), 'not_read 1\n');
    const result = await readTextfiles(dir, new Set(['node_load1']));
    expect(result.text).toBe('backup_ok{job="db"} 1\nbackup_ok{job="web"} 0\n');
    expect(result.families.find((f) => f.name === 'node_textfile_scrape_error')?.samples[0]?.value).toBe(1);
    expect(
      result.families
        .find((f) => f.name === 'node_textfile_mtime_seconds')
        ?.samples.map((s) => s.labels.file),
    ).toEqual([join(dir, 'a.prom'), join(dir, 'b.prom')]);
  });

  it('a missing directory is not an error', async () => {
    const result = await readTextfiles(join(dir, 'nope'), new Set());
    expect(result.text).toBe('');
    expect(result.families.find((f) => f.name === 'node_textfile_scrape_error')?.samples[0]?.value).toBe(0);
  });
});
