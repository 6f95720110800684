// Memory probe for the agent under a bench (preloaded into it):
//
//   BENCH_AGENT_NODE_OPTIONS="--import $PWD/bench/memory-probe.mjs" bench/logs --runs 1
//
// Every 10 ms it reads /proc/self/status; whenever RSS reached a new high (and at least once a
// second) it appends one JSON line to $BENCH_MEMORY_PROBE_DIR/<pid>.jsonl (default
// /tmp/taupage-memory-probe): RSS, VmHWM, RssAnon/RssFile/RssShmem, process.memoryUsage()
// (heap, external, arrayBuffers), V8's heap spaces [size, physical, used] in MB, and the GC
// counts so far (a line is also written after every major GC). So each rise of the peak RSS
// can be split into V8 heap spaces, ArrayBuffers (Buffers) and file-backed pages. The probe's
// own allocations are a few small objects per line written. See docs/logs.md (memory pass).
import fs from 'node:fs';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { setInterval } from 'node:timers';
import v8 from 'node:v8';

const dir = process.env.BENCH_MEMORY_PROBE_DIR ?? '/tmp/taupage-memory-probe';
fs.mkdirSync(dir, { recursive: true });
const out = `${dir}/${String(process.pid)}.jsonl`;
const t0 = Date.now();
const mb = (bytes) => Math.round((bytes / 1048576) * 100) / 100;
const kbField = (text, key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) / 1024;
const gcs = { major: 0, minor: 0, majorMs: 0, minorMs: 0 };
let maxRss = 0;
let last = 0;

function sample(tag) {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const rss = kbField(status, 'VmRSS');
  const now = Date.now();
  if (tag === 'tick' && rss <= maxRss + 0.5 && now - last < 1000) return;
  maxRss = Math.max(maxRss, rss);
  last = now;
  const usage = process.memoryUsage();
  const spaces = {};
  for (const space of v8.getHeapSpaceStatistics())
    spaces[space.space_name.replace('_space', '')] = [
      mb(space.space_size),
      mb(space.physical_space_size),
      mb(space.space_used_size),
    ];
  const line = {
    t: now - t0,
    tag,
    rss,
    hwm: kbField(status, 'VmHWM'),
    anon: kbField(status, 'RssAnon'),
    file: kbField(status, 'RssFile'),
    shmem: kbField(status, 'RssShmem'),
    heapTotal: mb(usage.heapTotal),
    heapUsed: mb(usage.heapUsed),
    heapPhys: mb(v8.getHeapStatistics().total_physical_size),
    external: mb(usage.external),
    arrayBuffers: mb(usage.arrayBuffers),
    spaces,
    gcs: { ...gcs },
  };
  fs.appendFileSync(out, `${JSON.stringify(line)}\n`);
}

new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = entry.detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      gcs.major++;
      gcs.majorMs += entry.duration;
      sample('major');
    } else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      gcs.minor++;
      gcs.minorMs += entry.duration;
    }
  }
}).observe({ entryTypes: ['gc'] });
setInterval(() => sample('tick'), 10).unref();
