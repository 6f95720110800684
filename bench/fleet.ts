// Fleet benchmark (run through bench/fleet): N real agents booted at once against one emulated
// AWS account whose quotas are scaled by N/1000, so that each agent sees the pressure of a
// 1,000-instance boot storm (docs/fleet-quotas.md). First one agent alone (the lone boot, same
// quotas, a fresh account), then the fleet. Ends with exactly one line, `fleet: ...`.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BUDGET_APIS,
  callsPerInstance,
  instanceCalls,
  fleetImage,
  percentile,
  runFleet,
  summaryLine,
  type FleetResult,
} from '../test/support/fleet.js';

const { values: args } = parseArgs({
  options: {
    agents: { type: 'string', default: '10' },
    lines: { type: 'string', default: '200' },
    scale: { type: 'string' },
    'boot-timeout': { type: 'string', default: '600' },
    'lines-timeout': { type: 'string', default: '180' },
    // The same N again with no effective quotas: how much of the p99 boot is the quotas' and how
    // much the machine's (N agents on its cores).
    control: { type: 'boolean', default: false },
  },
});
const AGENTS = Number(args.agents);
const LINES = Number(args.lines);
if (!Number.isInteger(AGENTS) || AGENTS < 1) throw new Error('--agents must be a positive integer');
if (!Number.isInteger(LINES) || LINES < 1) throw new Error('--lines must be a positive integer');
const SCALE = args.scale === undefined ? AGENTS / 1000 : Number(args.scale);
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' '); // prettier-ignore
const say = (line: string): void => {
  process.stderr.write(`  ${line}\n`);
};

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: source /var/tmp/taupage-test-env/env.sh`);
  return value;
}

function table(result: FleetResult): void {
  console.log(
    `\n${'API'.padEnd(34)}${'calls'.padStart(8)}${'throttled'.padStart(11)}${'retried'.padStart(9)}`,
  );
  const rows = [...result.account.apis.entries()].sort(([a], [b]) => a.localeCompare(b));
  for (const [api, c] of rows) {
    console.log(
      `${api.padEnd(34)}${String(c.calls).padStart(8)}${String(c.throttled).padStart(11)}${String(c.retried).padStart(9)}`,
    );
  }
  console.log(
    `(imds:request counts every instance's own IMDS; its quota is per instance, 1,024 packets/s, not scaled)`,
  );
}

function slowest(result: FleetResult): void {
  const worst = [...result.instances].sort(
    (a, b) => (b.bootMs ?? Number.POSITIVE_INFINITY) - (a.bootMs ?? Number.POSITIVE_INFINITY),
  )[0];
  if (worst === undefined) return;
  const boot =
    worst.bootMs === undefined
      ? `no boot (${worst.failure ?? 'unknown'})`
      : `${(worst.bootMs / 1000).toFixed(1)} s`;
  console.log(`\nslowest instance: ${worst.instanceId} (${worst.accessKeyId}), boot ${boot}`);
  console.log('  boot steps:');
  for (const step of worst.steps) {
    const ms = Number.isFinite(step.durationMs) ? String(Math.round(step.durationMs)) : '-';
    console.log(`    ${step.name.padEnd(14)} ${ms.padStart(7)} ms`);
  }
  const t0 = performance.timeOrigin + worst.startedAt;
  const events = worst.accountEvents.map((e) => ({
    at: e.at - t0,
    msg: `${e.api}${e.throttled ? ' THROTTLED' : ''}`,
  }));
  const merged = [...worst.logLines.map((l) => ({ at: l.at, msg: `agent: ${l.msg}` })), ...events].sort(
    (a, b) => a.at - b.at,
  );
  console.log('  timeline (ms since its spawn; agent log lines and its AWS calls):');
  for (const line of merged.slice(0, 80))
    console.log(`    +${String(Math.round(line.at)).padStart(7)} ${line.msg}`);
  if (merged.length > 80) console.log(`    ... ${String(merged.length - 80)} more`);
}

const image = await fleetImage(env('TAUPAGE_TEST_IMAGE'), LINES, 'fleet');
const common = {
  lines: LINES,
  scale: SCALE,
  bundle: resolve('dist/taupage.mjs'),
  baseImage: env('TAUPAGE_TEST_IMAGE'),
  bootTimeoutMs: Number(args['boot-timeout']) * 1000,
  linesTimeoutMs: Number(args['lines-timeout']) * 1000,
  label: 'fleet',
  log: say,
};
try {
  console.log(
    `taupage fleet bench: ${String(AGENTS)} agents, ${String(LINES)} lines each, quotas x${String(SCALE)}, ` +
      `${String(cpus().length)} cpus, load average ${load()}`,
  );
  const lone = await runFleet({ ...common, agents: 1 }, image);
  const loneBoot = lone.instances[0]?.bootMs;
  if (loneBoot === undefined) throw new Error(`the lone boot failed: ${lone.instances[0]?.failure ?? '?'}`);
  say(`lone boot ${(loneBoot / 1000).toFixed(1)} s; load average ${load()}`);
  const fleet = await runFleet({ ...common, agents: AGENTS }, image);
  table(fleet);
  const boots = fleet.instances.flatMap((i) => (i.bootMs === undefined ? [] : [i.bootMs]));
  console.log(
    `\nboot s: median ${(percentile(boots, 50) / 1000).toFixed(1)}, p99 ${(percentile(boots, 99) / 1000).toFixed(1)}, ` +
      `max ${(Math.max(...boots) / 1000).toFixed(1)}; p99 / lone ${(percentile(boots, 99) / loneBoot).toFixed(2)}`,
  );
  for (const api of BUDGET_APIS) {
    const admitted =
      fleet.instances.reduce((sum, i) => sum + instanceCalls(i, api).admitted, 0) /
      Math.max(1, fleet.instances.length);
    console.log(
      `calls per instance ${api}: ${callsPerInstance(fleet, api).toFixed(2)} (admitted ${admitted.toFixed(2)})`,
    );
  }
  const failures = fleet.instances.filter((i) => i.failure !== undefined);
  for (const f of failures.slice(0, 5)) console.log(`failed: ${f.instanceId}: ${f.failure ?? ''}`);
  if (fleet.logViolations.length > 0)
    console.log(`PutLogEvents limit violations: ${fleet.logViolations.length}`);
  slowest(fleet);
  console.log(`load average at end: ${load()}`);
  if (args.control) {
    say(`control: ${String(AGENTS)} agents again, no effective quotas (x1000)`);
    const control = await runFleet({ ...common, scale: 1000, agents: AGENTS }, image);
    const controlBoots = control.instances.flatMap((i) => (i.bootMs === undefined ? [] : [i.bootMs]));
    const controlP99 = percentile(controlBoots, 99);
    console.log(
      `control (same N, no quotas): p99 boot ${(controlP99 / 1000).toFixed(1)} s, ` +
        `healthy ${String(control.instances.filter((i) => i.healthy).length)}/${String(AGENTS)}; ` +
        `p99 with quotas / without ${(percentile(boots, 99) / controlP99).toFixed(2)}; load average ${load()}`,
    );
  }
  await mkdir('bench/results', { recursive: true });
  const file = `bench/results/fleet-${String(AGENTS)}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  await writeFile(
    file,
    `${JSON.stringify(
      {
        agents: AGENTS,
        lines: LINES,
        scale: SCALE,
        loneBootMs: loneBoot,
        apis: Object.fromEntries(fleet.account.apis),
        instances: fleet.instances.map(({ accountEvents: _e, logLines: _l, ...rest }) => rest),
        loadavgEnd: loadavg(),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file}`);
  console.log(summaryLine(fleet, loneBoot));
} finally {
  await new Promise((done) => {
    execFile('docker', ['rmi', '-f', image], () => {
      done(undefined);
    });
  });
}
