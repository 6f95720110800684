import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOCS_BEGIN, DOCS_END, withKeyTables } from '../../../src/config/config-docs.js';
import { taupageJsonSchema } from '../../../src/config/json-schema.js';
import { TAUPAGE_SCHEMA } from '../../../src/config/taupage-schema.js';
import { corpusDir } from '../../support/corpus.js';

/**
 * docs/configuration.md (its key tables) and docs/taupage-config.schema.json are generated from
 * the schema in src/config. These tests fail when either drifts from the code; run them with
 * TAUPAGE_UPDATE_DOCS=1 to rewrite both, then review the diff.
 */
const ROOT = join(import.meta.dirname, '../../..');
const DOCS = join(ROOT, 'docs/configuration.md');
const SCHEMA = join(ROOT, 'docs/taupage-config.schema.json');
const update = process.env.TAUPAGE_UPDATE_DOCS === '1';

describe('generated docs', () => {
  it('docs/configuration.md lists every key as the schema defines it', () => {
    const current = readFileSync(DOCS, 'utf8');
    const expected = withKeyTables(current);
    if (update && expected !== current) writeFileSync(DOCS, expected);
    expect(
      current,
      'docs/configuration.md is stale: run TAUPAGE_UPDATE_DOCS=1 npx vitest run test/unit/config/config-docs.test.ts',
    ).toBe(expected);
  });

  it('docs/taupage-config.schema.json is what `taupage schema` prints', async () => {
    // Formatted as the repository formats JSON (prettier), so `npm run format:check` agrees.
    const prettier = await import('prettier');
    const expected = await prettier.format(JSON.stringify(taupageJsonSchema(), null, 2), {
      ...(await prettier.resolveConfig(SCHEMA)),
      filepath: SCHEMA,
    });
    let current = '';
    try {
      current = readFileSync(SCHEMA, 'utf8');
    } catch {
      // Written below when updating; otherwise the comparison fails with the whole schema.
    }
    if (update && expected !== current) writeFileSync(SCHEMA, expected);
    expect(current, 'docs/taupage-config.schema.json is stale: run TAUPAGE_UPDATE_DOCS=1 …').toBe(expected);
  });

  it('has one row per top-level key, known or ignored', () => {
    const docs = readFileSync(DOCS, 'utf8');
    const tables = docs.slice(docs.indexOf(DOCS_BEGIN), docs.indexOf(DOCS_END));
    const keys = [
      ...TAUPAGE_SCHEMA.fieldList.map((spec) => spec.key),
      ...TAUPAGE_SCHEMA.ignoredList.map((key) => key.key),
    ];
    for (const key of keys) expect(tables).toContain(`| \`${key}\` |`);
  });

  it('describes every top-level key in the JSON Schema', () => {
    const properties = taupageJsonSchema().properties as Record<string, { description?: string }>;
    for (const spec of TAUPAGE_SCHEMA.fieldList)
      expect(properties[spec.key]?.description, spec.key).toBeTruthy();
    expect(taupageJsonSchema().required).toEqual(['runtime', 'source']);
  });
});

describe('the JSON Schema accepts what taupage accepts', () => {
  // ajv 6 (draft-07) comes with eslint, a dev dependency; editors use the same draft.
  it('compiles, and accepts every corpus config that has a runtime and a source', async () => {
    const { default: Ajv } = await import('ajv');
    const ajv = new Ajv({ allErrors: true });
    const validate = ajv.compile(taupageJsonSchema());
    const { readdirSync } = await import('node:fs');
    const { parseYamlDocument } = await import('../../../src/config/yaml-document.js');
    const corpus = corpusDir();
    const files = readdirSync(corpus).filter((file) => file.endsWith('.yaml'));
    const samples = [
      {
        runtime: 'Docker',
        source: 'registry.example.org/team/app:1.0',
        ports: { 8080: '8080', '9000/udp': 9000 },
        root: 'yes',
      },
      ...files.flatMap((file) => {
        try {
          return [parseYamlDocument(readFileSync(join(corpus, file), 'utf8')).value];
        } catch {
          return []; // 084 and 093 are not YAML
        }
      }),
    ].filter(
      (config): config is Record<string, unknown> =>
        typeof config === 'object' &&
        config !== null &&
        (config as Record<string, unknown>).runtime != null &&
        (config as Record<string, unknown>).source != null,
    );
    for (const config of samples) {
      // JSON has no Date: YAML timestamps reach editors as strings.
      const asJson: unknown = JSON.parse(JSON.stringify(config));
      expect(validate(asJson) ? [] : validate.errors, JSON.stringify(asJson).slice(0, 80)).toEqual([]);
    }
    expect(validate({ runtime: 'Docker', source: 'r.example.org/t/a:1', root: 'maybe' })).toBe(false);
  });
});
