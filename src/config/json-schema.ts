import { SHARED_DEFINITIONS } from './schema/scalar-nodes.js';
import type { JsonSchema } from './schema/schema-node.js';
import { TAUPAGE_SCHEMA } from './taupage-schema.js';

export const JSON_SCHEMA_ID = 'https://taupage.dev/schemas/taupage-config.schema.json';

/**
 * Template values that a Senza definition may hold where taupage wants something concrete:
 * Senza mustache, cfn-sphere markers, documentation placeholders, CloudFormation functions and
 * Senza cross-stack references. Editors accept them; `taupage validate` reports them "not checked".
 */
const TEMPLATE: JsonSchema = {
  description: 'A value rendered before the instance sees it (Senza {{…}}, CloudFormation Ref/Fn::*, …).',
  anyOf: [
    { type: 'string', pattern: '\\{\\{[^{}]+\\}\\}' },
    { type: 'string', pattern: '\\|[A-Za-z]+\\|' },
    { type: 'string', pattern: '^\\s*<[^<>]+>\\s*$' },
    {
      type: 'object',
      minProperties: 1,
      maxProperties: 1,
      patternProperties: { '^(Ref|Fn::[A-Za-z0-9]+|\\|[A-Za-z]+\\|)$': {} },
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: { Stack: { type: 'string' }, Output: { type: 'string' } },
      required: ['Stack', 'Output'],
      additionalProperties: false,
    },
  ],
};

/**
 * The JSON Schema of taupage.yaml (draft-07, which yaml-language-server and most editors read),
 * generated from the same schema the validator runs. `taupage schema` prints it;
 * docs/taupage-config.schema.json is a copy that a test keeps in step.
 *
 * It is deliberately more permissive than `taupage validate`: unknown keys are allowed (they
 * warn), and humane spellings (`"8080"`, `yes`) are accepted. Use it for completion and
 * early squiggles; `taupage validate` is the judge.
 */
export function taupageJsonSchema(): JsonSchema {
  const root = TAUPAGE_SCHEMA.jsonSchema();
  // The root is a map, never a template value: unwrap the object alternative.
  const object = (root.anyOf as JsonSchema[] | undefined)?.[0] ?? root;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: JSON_SCHEMA_ID,
    title: 'TaupageConfig',
    description:
      'taupage.yaml: the TaupageConfig in EC2 user data (after #taupage-ami-config) or in a Senza TaupageConfig block.',
    ...object,
    definitions: { template: TEMPLATE, ...SHARED_DEFINITIONS },
  };
}
