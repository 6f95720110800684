import { isMapping } from '../config-values.js';
import type { ConfigPath } from '../yaml-document.js';
import { found, TEMPLATE_REF, withArticle } from './scalar-nodes.js';
import { INVALID, type Invalid, type JsonSchema, type ReadContext, type SchemaNode } from './schema-node.js';
import { opaque } from './collection-nodes.js';
import { closestKey } from './key-suggestions.js';

// ---------------------------------------------------------------------------------------------
// Objects: maps with known keys. Every key of the TaupageConfig is a FieldSpec of an object.

export type KeyStatus = 'supported' | 'planned';

export interface KeyDoc {
  /** One sentence or two for docs/configuration.md. */
  readonly meaning: string;
  /** The taupage version that first accepted the key. */
  readonly since: string;
  /**
   * `supported`: the agent acts on it. `planned`: validated and in the typed config, but not
   * acted on yet (a warning says so when it is set).
   */
  readonly status?: KeyStatus;
  /** The default as the docs show it, when it is not simply the default value. */
  readonly defaultText?: string;
}

export interface FieldSpec<V> {
  readonly key: string;
  readonly node: SchemaNode<unknown>;
  readonly doc: KeyDoc;
  readonly required: boolean;
  readonly defaultValue: unknown;
  /** Reads the raw value; absent, `null` and `""` mean the default. */
  read(value: unknown, path: ConfigPath, context: ReadContext): V | Invalid;
}

function isAbsent(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

/** A key with a default. */
export function field<V>(key: string, node: SchemaNode<V>, defaultValue: V, doc: KeyDoc): FieldSpec<V> {
  return {
    key,
    node,
    doc,
    required: false,
    defaultValue,
    read: (value, path, context) => (isAbsent(value) ? defaultValue : node.read(value, path, context)),
  };
}

/** A key whose absence is `undefined` in the typed config. */
export function optional<V>(key: string, node: SchemaNode<V>, doc: KeyDoc): FieldSpec<V | undefined> {
  return field<V | undefined>(key, node, undefined, doc);
}

export function required<V>(key: string, node: SchemaNode<V>, doc: KeyDoc, hint: string): FieldSpec<V> {
  return {
    key,
    node,
    doc,
    required: true,
    defaultValue: undefined,
    read(value, path, context) {
      if (!isAbsent(value)) return node.read(value, path, context);
      context.error(path, `is required (${hint})`, 'key');
      return INVALID;
    },
  };
}

/** Why a known key is accepted but not read into the typed config. */
export type IgnoredKind =
  | 'third-party' // a feature of an agent or service taupage does not run (AppDynamics, etcd, …)
  | 'renamed' // an old spelling; `replacement` names the new key
  | 'removed' // existed in Taupage and was removed
  | 'obsolete' // still baked into old AMIs, unused since
  | 'unmerged' // proposed for Taupage (or in a fork) but never part of it
  | 'ignored'; // accepted for compatibility, fixed by the agent instead

export interface IgnoredKey {
  readonly key: string;
  readonly kind: IgnoredKind;
  /** The complete warning after the key, e.g. "AppDynamics is not part of this taupage; accepted, ignored". */
  readonly warning: string;
  readonly doc: { readonly meaning: string; readonly since: string };
  /** For the docs and the JSON Schema only; the value is not checked. */
  readonly node?: SchemaNode<unknown>;
  readonly replacement?: string;
  /**
   * Keys of one feature (an APM agent): a config that sets several gets one warning, at the
   * first, naming the others.
   */
  readonly group?: string;
}

export type FieldSpecs<T> = { readonly [K in keyof T]-?: FieldSpec<T[K]> };

export interface ObjectOptions<T> {
  readonly docType: string;
  readonly fields: FieldSpecs<T>;
  readonly ignored?: readonly IgnoredKey[];
  /** Warning for keys that are neither fields nor ignored. */
  readonly unknownKey?: string;
  /** Warn when a `planned` field is set (the top level; nested keys inherit their parent's). */
  readonly warnPlanned?: boolean;
  /** Cross-key checks on the typed value; may report and return INVALID. */
  readonly check?: (
    value: T,
    raw: Record<string, unknown>,
    path: ConfigPath,
    context: ReadContext,
  ) => T | Invalid;
}

export interface ObjectNode<T> extends SchemaNode<T> {
  readonly fieldList: readonly FieldSpec<unknown>[];
  readonly ignoredList: readonly IgnoredKey[];
}

export const PLANNED_WARNING = 'is not supported by this taupage version yet; accepted, ignored';

// Suggestions are cheap, but a hostile config can have thousands of unknown keys.
const MAX_SUGGESTIONS = 20;

export function objectNode<T>(options: ObjectOptions<T>): ObjectNode<T> {
  const fields: Readonly<Record<string, FieldSpec<unknown>>> = options.fields;
  const fieldList = Object.values(fields);
  const fieldEntries = Object.entries(fields);
  const byKey = new Map(fieldEntries.map(([name, spec]) => [spec.key, { name, spec }]));
  const ignoredList = options.ignored ?? [];
  const ignoredByKey = new Map(ignoredList.map((ignored) => [ignored.key, ignored]));
  const knownKeys = [...byKey.keys(), ...ignoredList.filter((k) => k.kind !== 'renamed').map((k) => k.key)];
  return {
    docType: options.docType,
    fieldList,
    ignoredList,
    nested: { via: '', fields: fieldEntries.map(([name, spec]) => ({ name, spec })), ignored: ignoredList },
    read(raw, path, context) {
      if (opaque(raw, context)) return INVALID;
      if (!isMapping(raw)) {
        context.error(path, `expected ${withArticle(options.docType)}, found ${found(raw, path)}`);
        return INVALID;
      }
      let suggestions = 0;
      const grouped = new Map<string, string[]>();
      for (const key of Object.keys(raw)) {
        const group = ignoredByKey.get(key)?.group;
        if (group !== undefined) grouped.set(group, [...(grouped.get(group) ?? []), key]);
      }
      for (const key of Object.keys(raw)) {
        if (byKey.has(key)) continue;
        const ignored = ignoredByKey.get(key);
        if (ignored !== undefined) {
          const together = ignored.group === undefined ? undefined : grouped.get(ignored.group);
          if (together === undefined) context.warning([...path, key], ignored.warning);
          else if (together[0] === key)
            context.warning(
              [...path, key],
              together.length === 1
                ? ignored.warning
                : `${ignored.warning} (so are ${together.slice(1).join(', ')})`,
            );
          continue;
        }
        const suggestion = suggestions++ < MAX_SUGGESTIONS ? closestKey(key, knownKeys) : undefined;
        const hint = suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`;
        context.warning([...path, key], `${options.unknownKey ?? 'is not a known key here; ignored'}${hint}`);
      }
      const typed: Record<string, unknown> = {};
      let invalid = false;
      for (const [name, spec] of fieldEntries) {
        const value = Object.hasOwn(raw, spec.key) ? raw[spec.key] : undefined;
        const fieldPath = [...path, spec.key];
        const read = spec.read(value, fieldPath, context);
        if (read === INVALID) invalid = true;
        else typed[name] = read;
        // Only when it asks for something: `privileged: false` loses nothing by being ignored.
        if (
          options.warnPlanned === true &&
          spec.doc.status === 'planned' &&
          !isAbsent(value) &&
          !sameAsDefault(read, spec.defaultValue)
        )
          context.warning(fieldPath, PLANNED_WARNING);
      }
      if (invalid) return INVALID;
      const value = Object.freeze(typed) as T;
      return options.check === undefined ? value : options.check(value, raw, path, context);
    },
    jsonSchema: () => {
      const properties: Record<string, JsonSchema> = {};
      for (const spec of fieldList) properties[spec.key] = fieldJsonSchema(spec);
      for (const ignored of ignoredList) {
        properties[ignored.key] = {
          ...(ignored.node === undefined ? {} : ignored.node.jsonSchema()),
          description: `${ignored.doc.meaning} — ${ignored.warning}.`,
          ...(ignored.kind === 'renamed' || ignored.kind === 'removed' ? { deprecated: true } : {}),
        };
      }
      const requiredKeys = fieldList.filter((spec) => spec.required).map((spec) => spec.key);
      return {
        anyOf: [
          {
            type: 'object',
            properties,
            ...(requiredKeys.length > 0 ? { required: requiredKeys } : {}),
            // Unknown keys are warnings, never errors: they may belong to another tool.
            additionalProperties: true,
          },
          TEMPLATE_REF,
        ],
      };
    },
  };
}

/** Whether a typed value equals a field's default (unset, false, empty). */
function sameAsDefault(value: unknown, fallback: unknown): boolean {
  if (value === fallback) return true;
  if (value instanceof Map && fallback instanceof Map) return value.size === 0 && fallback.size === 0;
  if (Array.isArray(value) && Array.isArray(fallback))
    return value.length === fallback.length && value.every((item, index) => item === fallback[index]);
  if (typeof value === 'object' && value !== null && typeof fallback === 'object' && fallback !== null) {
    const a = value as Record<string, unknown>;
    const b = fallback as Record<string, unknown>;
    return Object.keys(b).every((key) => sameAsDefault(a[key], b[key]));
  }
  return false;
}

function fieldJsonSchema(spec: FieldSpec<unknown>): JsonSchema {
  const schema: Record<string, unknown> = { ...spec.node.jsonSchema(), description: spec.doc.meaning };
  const fallback = jsonDefault(spec.defaultValue);
  if (fallback !== undefined) schema.default = fallback;
  if (spec.required) return schema;
  // `key:` with nothing after it is null in YAML, and means the default.
  return { anyOf: [schema, { type: 'null' }], description: spec.doc.meaning };
}

function jsonDefault(value: unknown): unknown {
  if (typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((item) => typeof item !== 'object')) return value;
  return undefined;
}
