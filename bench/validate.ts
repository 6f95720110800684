// Validation benchmark (run through bench/validate): how fast `taupage validate` checks real
// configs. It reads every file of the corpus (../shared/corpus by default) into memory, then
// validates each one exactly as the CLI does (user-data decoding, YAML parsing with positions,
// the schema, Senza blocks), timing every config. No I/O inside the timed part.
//
// Reported: the cold pass (first sight of each config in a fresh process: JIT compilation
// included), then N warm rounds: configs/s, and p50/p99/max per config; plus a 16 KB config
// (EC2's user-data cap) against the 50 ms budget.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { checkConfigInput } from '../src/config/config-input.js';

const BUDGET_16KB_MS = 50;

const { values: args } = parseArgs({
  options: {
    corpus: { type: 'string', default: resolve('../shared/corpus') },
    rounds: { type: 'string', default: '50' },
    rendered: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error('--rounds must be a positive integer');
if (!existsSync(args.corpus)) throw new Error(`no corpus at ${args.corpus} (use --corpus DIR)`);
const options = { defaults: {}, template: !args.rendered };

const files = readdirSync(args.corpus)
  .filter((file) => /\.ya?ml$/.test(file))
  .sort()
  .map((file) => ({ file, bytes: readFileSync(join(args.corpus, file)) }));
if (files.length === 0) throw new Error(`no .yaml files in ${args.corpus}`);

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** Wall time and this process's CPU time: on a busy machine the first includes waiting for a CPU. */
function time(bytes: Buffer): { ms: number; cpuMs: number; configs: number } {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const result = checkConfigInput(bytes, options);
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1000, configs: Math.max(result.configs, 1) };
}

const header = `taupage validate benchmark — ${files.length} files from ${args.corpus}, ${args.rendered ? 'rendered' : 'template'} mode, node ${process.version}, ${cpus().length} CPUs, load ${loadavg()[0]?.toFixed(2)}`;
console.log(header);

// Cold: each config once, in a fresh process.
const coldStart = performance.now();
for (const { bytes } of files) time(bytes);
const coldMs = performance.now() - coldStart;

// Warm: every config, ROUNDS times.
const samples: number[] = [];
const cpuSamples: number[] = [];
let configs = 0;
const warmStart = performance.now();
for (let round = 0; round < ROUNDS; round++) {
  for (const { bytes } of files) {
    const sample = time(bytes);
    samples.push(sample.ms / sample.configs);
    cpuSamples.push(sample.cpuMs / sample.configs);
    configs += sample.configs;
  }
}
const warmMs = performance.now() - warmStart;
samples.sort((a, b) => a - b);
cpuSamples.sort((a, b) => a - b);

// A config at EC2's 16 KB user-data cap: many environment variables and ports.
const lines = [
  '#taupage-ami-config',
  'runtime: Docker',
  'source: registry.example.org/team/app:1.0.3',
  'ports:',
];
for (let port = 8000; port < 8100; port++) lines.push(`  ${port}: ${port}`);
lines.push('environment:');
for (let i = 0; lines.join('\n').length < 16 * 1024; i++)
  lines.push(`  VARIABLE_${i}: "value ${i}, ${'x'.repeat(i % 40)}"`);
const big = Buffer.from(`${lines.join('\n')}\n`);
const bigRuns = Array.from({ length: 200 }, () => time(big));
const bigSamples = bigRuns.map((run) => run.ms).sort((a, b) => a - b);
const bigCpu = bigRuns.map((run) => run.cpuMs).sort((a, b) => a - b);

const summary = {
  files: files.length,
  bytes: files.reduce((sum, { bytes }) => sum + bytes.length, 0),
  coldPassMs: coldMs,
  rounds: ROUNDS,
  configsPerSecond: (configs / warmMs) * 1000,
  perConfigMs: { p50: percentile(samples, 50), p99: percentile(samples, 99), max: samples.at(-1) },
  perConfigCpuMs: {
    p50: percentile(cpuSamples, 50),
    p99: percentile(cpuSamples, 99),
    max: cpuSamples.at(-1),
  },
  config16Kb: {
    bytes: big.length,
    p50: percentile(bigSamples, 50),
    p99: percentile(bigSamples, 99),
    max: bigSamples.at(-1),
  },
  config16KbCpu: { p50: percentile(bigCpu, 50), p99: percentile(bigCpu, 99), max: bigCpu.at(-1) },
};

const ms = (value: number | undefined) => `${(value ?? Number.NaN).toFixed(2)} ms`;
console.log(`cold pass (JIT included): ${ms(coldMs)} for ${files.length} files`);
console.log(`warm, ${ROUNDS} rounds:        ${summary.configsPerSecond.toFixed(0)} configs/s`);
console.log(
  `per config, wall:         p50 ${ms(summary.perConfigMs.p50)}, p99 ${ms(summary.perConfigMs.p99)}, max ${ms(summary.perConfigMs.max)}`,
);
console.log(
  `per config, CPU:          p50 ${ms(summary.perConfigCpuMs.p50)}, p99 ${ms(summary.perConfigCpuMs.p99)}, max ${ms(summary.perConfigCpuMs.max)}`,
);
const verdict = summary.config16Kb.p99 < BUDGET_16KB_MS ? 'PASS' : 'MISS';
console.log(
  `16 KB config (${big.length} B), wall: p50 ${ms(summary.config16Kb.p50)}, p99 ${ms(summary.config16Kb.p99)} — ${verdict} (budget ${BUDGET_16KB_MS} ms)`,
);
console.log(
  `16 KB config, CPU:        p50 ${ms(summary.config16KbCpu.p50)}, p99 ${ms(summary.config16KbCpu.p99)}`,
);

await mkdir('bench/results', { recursive: true });
const out = `bench/results/validate-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
await writeFile(out, `${JSON.stringify({ header, summary, samplesMs: samples }, null, 2)}\n`);
console.log(`raw samples: ${out}`);
