import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { AgentMetrics } from '../../../src/metrics/agent-metrics.js';
import { hostCollectors, PrometheusScrape } from '../../../src/metrics/prometheus-scrape.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { eventually, freePort } from '../../support/test-env.js';

// Debian's prometheus-node-exporter, on the same host: the reference for names, types and labels.
const NODE_EXPORTER = '/usr/bin/prometheus-node-exporter';

/** The families we claim to serve exactly as node_exporter does (docs/operations.md). */
const CLAIMED = [
  'node_cpu_seconds_total',
  'node_cpu_guest_seconds_total',
  'node_memory_MemTotal_bytes',
  'node_memory_MemAvailable_bytes',
  'node_memory_SwapTotal_bytes',
  'node_filesystem_size_bytes',
  'node_filesystem_avail_bytes',
  'node_filesystem_free_bytes',
  'node_filesystem_files',
  'node_filesystem_readonly',
  'node_disk_reads_completed_total',
  'node_disk_read_bytes_total',
  'node_disk_written_bytes_total',
  'node_disk_io_time_seconds_total',
  'node_network_receive_bytes_total',
  'node_network_transmit_bytes_total',
  'node_network_receive_errs_total',
  'node_load1',
  'node_load5',
  'node_load15',
  'node_boot_time_seconds',
  'node_time_seconds',
  'node_context_switches_total',
  'node_procs_running',
  'node_textfile_scrape_error',
  'node_textfile_mtime_seconds',
];

interface Family {
  type: string | undefined;
  help: string | undefined;
  samples: { labels: Record<string, string>; value: number }[];
}

/** A small parser for the text exposition format: enough to compare two scrapes. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let found = families.get(name);
    if (found === undefined) families.set(name, (found = { type: undefined, help: undefined, samples: [] }));
    return found;
  };
  for (const line of text.split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta !== null) {
      if (meta[1] === 'TYPE') family(meta[2] ?? '').type = meta[3];
      else family(meta[2] ?? '').help = meta[3];
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (sample === null) throw new Error(`unparseable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const match of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[match[1] ?? ''] = match[2] ?? '';
    family(sample[1] ?? '').samples.push({ labels, value: Number(sample[3]) });
  }
  return families;
}

const labelNames = (family: Family | undefined): string[] =>
  [...new Set(family?.samples.map((sample) => Object.keys(sample.labels).sort().join(',')))].sort();
const labelValues = (family: Family | undefined, keys: string[]): string[] =>
  (family?.samples ?? []).map((sample) => keys.map((key) => sample.labels[key]).join('|')).sort();

let child: ChildProcess;
let textfileDir: string;
let theirs: Map<string, Family>;
let ours: Map<string, Family>;

beforeAll(async () => {
  if (!existsSync(NODE_EXPORTER))
    throw new Error(
      `${NODE_EXPORTER} is missing: run "scripts/test-env.sh up" (it installs prometheus-node-exporter)`,
    );
  textfileDir = await mkdtemp(join(tmpdir(), 'taupage-textfile-'));
  await writeFile(
    join(textfileDir, 'cron.prom'),
    '# HELP backup_last_success_seconds Last successful backup.\n# TYPE backup_last_success_seconds gauge\nbackup_last_success_seconds{job="db"} 1.7e9\n',
  );
  const port = await freePort();
  child = spawn(
    NODE_EXPORTER,
    [`--web.listen-address=127.0.0.1:${port}`, `--collector.textfile.directory=${textfileDir}`],
    { stdio: 'ignore' },
  );
  const scrape = new PrometheusScrape({
    collectors: hostCollectors('/proc', () => Date.now()),
    textfileDir,
    container: undefined,
    agent: new AgentMetrics(
      new AgentState(new BootTimeline(systemClock, []), {
        version: 't',
        commit: 't',
        mode: 'ec2',
        startedAt: new Date().toISOString(),
      }),
    ),
  });
  // Scrape both back to back, so that counters and mounts are as close as they get.
  const text = await eventually(async () => {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    return response.ok ? response.text() : undefined;
  }, 'node_exporter to answer');
  theirs = parseExposition(text);
  ours = parseExposition(await scrape.render());
});
afterAll(async () => {
  child.kill('SIGTERM');
  await rm(textfileDir, { recursive: true, force: true });
});

describe('host metrics match Debian prometheus-node-exporter on this host', () => {
  it('serves every claimed family', () => {
    for (const name of CLAIMED) {
      expect(ours.has(name), `ours has ${name}`).toBe(true);
      expect(theirs.has(name), `node_exporter has ${name}`).toBe(true);
    }
  });

  it('every node_* family we serve exists in node_exporter with the same TYPE, HELP and label names', () => {
    const ourNodeFamilies = [...ours.keys()].filter((name) => name.startsWith('node_'));
    expect(ourNodeFamilies.length).toBeGreaterThan(50);
    for (const name of ourNodeFamilies) {
      const mine = ours.get(name);
      const reference = theirs.get(name);
      expect(reference, `node_exporter has ${name}`).toBeDefined();
      expect(mine?.type, `TYPE of ${name}`).toBe(reference?.type);
      expect(mine?.help, `HELP of ${name}`).toBe(reference?.help);
      expect(labelNames(mine), `label names of ${name}`).toEqual(labelNames(reference));
    }
  });

  it('reports the same CPUs and modes, mounts, disks and network devices', () => {
    const same = (name: string, keys: string[]): void => {
      expect(labelValues(ours.get(name), keys), `${name} {${keys.join(',')}}`).toEqual(
        labelValues(theirs.get(name), keys),
      );
    };
    same('node_cpu_seconds_total', ['cpu', 'mode']);
    same('node_cpu_guest_seconds_total', ['cpu', 'mode']);
    same('node_filesystem_size_bytes', ['device', 'fstype', 'mountpoint']);
    same('node_filesystem_readonly', ['device', 'fstype', 'mountpoint']);
    same('node_disk_reads_completed_total', ['device']);
    same('node_disk_info', ['device', 'major', 'minor']);
    same('node_network_receive_bytes_total', ['device']);
    same('node_network_transmit_colls_total', ['device']);
    same('node_textfile_mtime_seconds', ['file']);
    const memory = (families: Map<string, Family>): string[] =>
      [...families.keys()].filter((name) => name.startsWith('node_memory_')).sort();
    expect(memory(ours)).toEqual(memory(theirs));
  });

  it('reads the same values where they do not move between two scrapes', () => {
    const value = (families: Map<string, Family>, name: string): number | undefined =>
      families.get(name)?.samples[0]?.value;
    expect(value(ours, 'node_memory_MemTotal_bytes')).toBe(value(theirs, 'node_memory_MemTotal_bytes'));
    expect(value(ours, 'node_boot_time_seconds')).toBe(value(theirs, 'node_boot_time_seconds'));
    expect(labelValues(ours.get('node_filesystem_size_bytes'), ['mountpoint'])).toContain('/');
    const size = (families: Map<string, Family>): number | undefined =>
      families.get('node_filesystem_size_bytes')?.samples.find((s) => s.labels.mountpoint === '/')?.value;
    expect(size(ours)).toBe(size(theirs));
    expect(
      Math.abs((value(ours, 'node_time_seconds') ?? 0) - (value(theirs, 'node_time_seconds') ?? 0)),
    ).toBeLessThan(30);
  });

  it('merges the textfile directory like node_exporter', () => {
    expect(ours.get('backup_last_success_seconds')).toEqual(theirs.get('backup_last_success_seconds'));
    expect(value0(ours, 'node_textfile_scrape_error')).toBe(0);
  });
});

function value0(families: Map<string, Family>, name: string): number | undefined {
  return families.get(name)?.samples[0]?.value;
}
