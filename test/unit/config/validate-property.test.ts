import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { dump } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { checkConfigInput } from '../../../src/config/config-input.js';
import { validateConfig } from '../../../src/config/validate-config.js';
import { TAUPAGE_SCHEMA } from '../../../src/config/taupage-schema.js';
import { corpusDir } from '../../support/corpus.js';

/**
 * Generated and mutated configs: the validator never throws, stays fast, and never repeats a
 * secret in its messages. Planted secrets carry a unique marker (`pl4nt…`) so a leak cannot hide.
 */

const TOP_LEVEL_KEYS = [
  ...TAUPAGE_SCHEMA.fieldList.map((spec) => spec.key),
  ...TAUPAGE_SCHEMA.ignoredList.map((ignored) => ignored.key),
];
const NESTED_KEYS = [
  'ebs',
  'raid',
  'level',
  'devices',
  'partition',
  'filesystem',
  'erase_on_boot',
  'options',
  'type',
  'stack',
  'resource',
  'log_driver',
  'log_opt',
  'auth',
  'email',
];
const SENSITIVE_KEYS = [
  'DB_PASSWORD',
  'password',
  'scalyr_account_key',
  'API_TOKEN',
  'auth',
  'logsink_password',
  'private_key',
  'client_secret',
];

const marker = fc.stringMatching(/^[0-9a-f]{16}$/).map((hex) => `pl4nt${hex}`);

const scalar = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer({ min: -100_000, max: 100_000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    'yes',
    'no',
    'On',
    '8080',
    '8080/udp',
    '8600/upd',
    '512m',
    '1G',
    'Docker',
    '/dev/xvdf',
    '/data',
    'none',
    'host',
    'latest',
  ),
  fc.constantFrom(
    '{{Arguments.ImageVersion}}',
    '|Ref|AWS::StackName',
    '<TODO>',
    'registry.example.org/team/app:1.0',
    'stups/odd:latest',
  ),
  fc.string({ maxLength: 12 }).map((text) => `aws:kms:${text}`),
);

const key = fc.oneof(
  fc.constantFrom(...TOP_LEVEL_KEYS),
  fc.constantFrom(...NESTED_KEYS),
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.integer({ min: 1, max: 70_000 }).map(String),
);

const { tree } = fc.letrec<{ tree: unknown }>((recurse) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(recurse('tree'), { maxLength: 4 }),
    fc.dictionary(key, recurse('tree'), { maxKeys: 5 }),
    fc.record({ Ref: fc.string({ maxLength: 8 }) }),
  ),
}));

/** A secret value in one of the forms a config may hold one. */
const secretValue = marker.chain((secret) =>
  fc.constantFrom(
    { secret, value: secret },
    { secret, value: [secret] },
    { secret, value: { nested: secret } },
    { secret, value: `aws:kms:${secret}!!` },
    { secret, value: `aws:kms:${Buffer.from(secret).toString('base64')}` },
    { secret, value: Number.NaN },
  ),
);

/** A config made of generated keys, with secrets planted at sensitive places. */
const configWithSecrets = fc
  .record({
    base: fc.dictionary(key, tree, { maxKeys: 12 }),
    secrets: fc.array(
      fc.tuple(
        fc.constantFrom(...SENSITIVE_KEYS),
        secretValue,
        fc.constantFrom('top', 'environment', 'logging', 'dockercfg'),
      ),
      {
        maxLength: 4,
      },
    ),
  })
  .map(({ base, secrets }) => {
    const config: Record<string, unknown> = { ...base };
    for (const [name, { value }, where] of secrets) {
      const planted = Number.isNaN(value) ? `pl4nt${name}` : value;
      if (where === 'top') config[name] = planted;
      else if (where === 'dockercfg') config.dockercfg = { 'https://r.example.org': { auth: planted } };
      else
        config[where] = {
          ...(typeof config[where] === 'object' && config[where] !== null ? config[where] : {}),
          [name]: planted,
        };
    }
    return { config, secrets: secrets.map(([, { secret }]) => secret) };
  });

function messages(result: { errors: readonly unknown[]; warnings: readonly unknown[] }): string {
  return JSON.stringify([result.errors, result.warnings]);
}

function toYaml(value: unknown): string {
  try {
    return dump(value);
  } catch {
    return JSON.stringify(value);
  }
}

/**
 * CPU time of a call, in ms, as the best of three: the bound is on our work, not on what else
 * the machine runs. Process CPU time still includes V8's background threads (a major GC, a
 * recompile) landing on one run; the minimum filters those out, while a slow algorithm stays
 * slow on every run.
 */
function cpuMs(run: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < 3; attempt++) {
    const start = process.cpuUsage();
    run();
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}

describe('validator properties', () => {
  it('never throws and never echoes a secret, on objects and on their YAML, in both modes', () => {
    fc.assert(
      fc.property(configWithSecrets, fc.boolean(), ({ config, secrets }, template) => {
        const direct = validateConfig(config, { template });
        const viaYaml = checkConfigInput(Buffer.from(`#taupage-ami-config\n${toYaml(config)}`), {
          defaults: {},
          template,
        });
        for (const secret of secrets) {
          expect(messages(direct)).not.toContain(secret);
          expect(messages(viaYaml)).not.toContain(secret);
        }
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it('never throws on arbitrary bytes or text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 400 }),
          fc.uint8Array({ maxLength: 400 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
        ),
        (text) => {
          checkConfigInput(Buffer.from(text, 'latin1'), { defaults: {}, template: true });
          checkConfigInput(Buffer.from(`#taupage-ami-config\n${text}`), { defaults: {}, template: false });
        },
      ),
      { numRuns: 300 },
    );
  }, 60_000);

  const corpus = readdirSync(corpusDir())
    .filter((file) => file.endsWith('.yaml'))
    .map((file) => readFileSync(join(corpusDir(), file), 'utf8'));

  it('never throws on mutated real-world configs', () => {
    const mutation = fc.record({
      file: fc.integer({ min: 0, max: corpus.length - 1 }),
      at: fc.nat(),
      cut: fc.nat({ max: 40 }),
      insert: fc.oneof(
        fc.string({ maxLength: 8 }),
        fc.constantFrom(
          ':',
          '- ',
          '{',
          '[',
          '&a ',
          '*a',
          '!Ref ',
          '\t',
          '\n  ',
          '"',
          "'",
          '|',
          '>',
          '<<: *a\n',
          '? ',
        ),
      ),
    });
    fc.assert(
      fc.property(mutation, ({ file, at, cut, insert }) => {
        const text = corpus[file] ?? '';
        const position = text.length === 0 ? 0 : at % text.length;
        const mutated = text.slice(0, position) + insert + text.slice(position + cut);
        checkConfigInput(Buffer.from(mutated), { defaults: {}, template: true });
        checkConfigInput(Buffer.from(mutated), { defaults: {}, template: false });
      }),
      { numRuns: 500 },
    );
  }, 60_000);

  it('validates a 16 KB config in under 50 ms', () => {
    const sixteenKb = fc.dictionary(key, tree, { minKeys: 4, maxKeys: 12 }).map((config) => {
      let text = `#taupage-ami-config\nruntime: Docker\nsource: registry.example.org/team/app:1.0\n${toYaml(config)}`;
      for (let copy = 0; text.length < 16 * 1024; copy++)
        text += `section_${copy}:\n${indent(toYaml(config))}`;
      return text.slice(0, 16 * 1024);
    });
    // The bound is on steady-state work: warm the JIT first (a cold process also pays for
    // compiling the validator, which bench/validate reports separately).
    for (const text of fc.sample(sixteenKb, { numRuns: 40, seed: 1 }))
      checkConfigInput(Buffer.from(text), { defaults: {}, template: true });
    fc.assert(
      fc.property(sixteenKb, fc.boolean(), (text, template) => {
        expect(Buffer.byteLength(text)).toBeGreaterThanOrEqual(16 * 1024);
        const ms = cpuMs(() => checkConfigInput(Buffer.from(text), { defaults: {}, template }));
        expect(ms).toBeLessThan(50);
      }),
      // Shrinking a 16 KB text to explain a slow run takes minutes and explains nothing.
      { numRuns: 40, endOnFailure: true },
    );
    // A real config grown to 16 KB: many environment variables and ports, all of them read.
    const big = realisticConfig(16 * 1024);
    const ms = cpuMs(() => checkConfigInput(Buffer.from(big), { defaults: {}, template: true }));
    expect(ms).toBeLessThan(50);
  }, 60_000);

  it('stops alias bombs instead of expanding them', () => {
    const bomb = [
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      ...Array.from(
        { length: 8 },
        (_, i) =>
          `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
            .fill(`*${String.fromCharCode(97 + i)}`)
            .join(', ')}]`,
      ),
    ].join('\n');
    const ms = cpuMs(() => {
      const result = checkConfigInput(Buffer.from(bomb), { defaults: {}, template: true });
      expect(result.errors).toEqual([
        expect.objectContaining({ message: expect.stringMatching(/aliases expand to more than/) as unknown }),
      ]);
    });
    expect(ms).toBeLessThan(50);
  });
});

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => (line === '' ? line : `  ${line}`))
    .join('\n');
}

function realisticConfig(size: number): string {
  const lines = [
    '#taupage-ami-config',
    'runtime: Docker',
    'source: registry.example.org/team/app:1.0.3',
    'application_id: app',
    'application_version: "1.0.3"',
    'ports:',
  ];
  for (let port = 8000; port < 8100; port++) lines.push(`  ${port}: ${port}`);
  lines.push('environment:');
  for (let i = 0; lines.join('\n').length < size; i++)
    lines.push(`  VARIABLE_${i}: "value number ${i} with some text, ${'x'.repeat(i % 40)}"`);
  return `${lines.join('\n')}\n`;
}
