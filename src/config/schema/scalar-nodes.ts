import {
  describeValue,
  FALSE_WORDS,
  isEncrypted,
  isSensitivePath,
  readBoolean,
  readCiphertext,
  readInteger,
  readPort,
  readSize,
  scalarToString,
  TRUE_WORDS,
} from '../config-values.js';
import type { ConfigValue } from '../taupage-config.js';
import type { ConfigPath } from '../yaml-document.js';
import { INVALID, type JsonSchema, type ReadContext, type SchemaNode } from './schema-node.js';
import { intrinsicFunctionName, isTemplateValue } from './template-values.js';

/** "a map", "an absolute path", "an S3 bucket name", "a URL": `expected …` reads as English. */
export function withArticle(docType: string): string {
  if (/^(a|an|the|one|true)\b/i.test(docType) || docType.startsWith('`')) return docType;
  if (/^[A-Z0-9]{2}/.test(docType)) return `${/^[AEFHILMNORSX]/.test(docType) ? 'an' : 'a'} ${docType}`;
  return `${/^[aeiou]/i.test(docType) ? 'an' : 'a'} ${docType}`;
}

/** "found …" for messages: the value, unless a key on its path looks secret. */
export function found(value: unknown, path: ConfigPath): string {
  return describeValue(value, isSensitivePath(path));
}

// JSON Schema pieces for template values, shared through $defs (see json-schema.ts).
export const TEMPLATE_REF: JsonSchema = { $ref: '#/definitions/template' };

/** Accepts the value as written, or a template value (for editors validating Senza files). */
function orTemplate(schema: JsonSchema): JsonSchema {
  return { anyOf: [schema, TEMPLATE_REF] };
}

/** Case-insensitive pattern without the `i` flag, which JSON Schema regexes do not have. */
function wordsPattern(words: readonly string[]): string {
  const caseless = (word: string) => word.replace(/[a-z]/gi, (c) => `[${c.toLowerCase()}${c.toUpperCase()}]`);
  return `^\\s*(${words.map(caseless).join('|')})\\s*$`;
}

/**
 * Template values where a number, boolean or fixed word is needed: in a Senza definition they
 * are reported as "not checked"; in rendered user data they are just wrong, and say so.
 */
function templateGate(value: unknown, path: ConfigPath, context: ReadContext, expected: string): boolean {
  if (context.template && isTemplateValue(value)) {
    context.unchecked(path, expected);
    return true;
  }
  return false;
}

function encryptedGate(value: unknown, path: ConfigPath, context: ReadContext, expected: string): boolean {
  if (!isEncrypted(value)) return false;
  context.error(
    path,
    `expected ${withArticle(expected)}, found an aws:kms: value (only free-text values such as environment values and keys can be encrypted)`,
  );
  return true;
}

export function booleanNode(): SchemaNode<boolean> {
  return {
    docType: 'boolean',
    read(value, path, context) {
      if (templateGate(value, path, context, 'true or false')) return INVALID;
      const read = readBoolean(value);
      if (read.ok) return read.value;
      context.error(path, `expected true or false (or yes/no, on/off, 1/0), found ${found(value, path)}`);
      return INVALID;
    },
    jsonSchema: () => ({ $ref: '#/definitions/boolean' }),
  };
}

/** Shared JSON Schema definitions the nodes refer to (json-schema.ts puts them in `definitions`). */
export const SHARED_DEFINITIONS: Readonly<Record<string, JsonSchema>> = {
  boolean: orTemplate({
    description: 'true/false, yes/no, on/off, 1/0, in any case',
    anyOf: [
      { type: 'boolean' },
      { enum: [0, 1] },
      { type: 'string', pattern: wordsPattern([...TRUE_WORDS, ...FALSE_WORDS]) },
    ],
  }),
  port: orTemplate({
    description: 'a port number from 1 to 65535, or its digits as a string',
    anyOf: [
      { type: 'integer', minimum: 1, maximum: 65535 },
      { type: 'string', pattern: '^\\s*[0-9]{1,5}\\s*$' },
    ],
  }),
  size: orTemplate({
    description: 'bytes, or a number with k, m, g (binary units): 512m, 1G',
    anyOf: [
      { type: 'integer', minimum: 0 },
      { type: 'string', pattern: '^\\s*[0-9]+(\\.[0-9]+)?\\s*([kKmMgGtT]?)([iI]?[bB]?)\\s*$' },
    ],
  }),
};

export interface IntegerOptions {
  readonly min: number;
  readonly max: number;
  readonly docType?: string;
}

export function integerNode(options: IntegerOptions): SchemaNode<number> {
  const expected = `a whole number from ${options.min} to ${options.max}`;
  return {
    docType: options.docType ?? `integer ${options.min}–${options.max}`,
    read(value, path, context) {
      if (templateGate(value, path, context, expected)) return INVALID;
      const number = readInteger(value);
      if (number !== undefined && number >= options.min && number <= options.max) return number;
      context.error(path, `expected ${expected}, found ${found(value, path)}`);
      return INVALID;
    },
    jsonSchema: () =>
      orTemplate({
        anyOf: [
          { type: 'integer', minimum: options.min, maximum: options.max },
          { type: 'string', pattern: '^\\s*[+-]?[0-9]+\\s*$' },
        ],
      }),
  };
}

/** A non-negative decimal, e.g. CPUs (`1.5`). */
export function decimalNode(options: { min: number; max: number; docType: string }): SchemaNode<number> {
  const expected = `a number from ${options.min} to ${options.max}`;
  return {
    docType: options.docType,
    read(value, path, context) {
      if (templateGate(value, path, context, expected)) return INVALID;
      const number = typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value;
      if (
        typeof number === 'number' &&
        Number.isFinite(number) &&
        number >= options.min &&
        number <= options.max
      )
        return number;
      context.error(path, `expected ${expected}, found ${found(value, path)}`);
      return INVALID;
    },
    jsonSchema: () =>
      orTemplate({
        anyOf: [
          { type: 'number', minimum: options.min, maximum: options.max },
          { type: 'string', pattern: '^\\s*[0-9]+(\\.[0-9]+)?\\s*$' },
        ],
      }),
  };
}

export const PORT_JSON_SCHEMA: JsonSchema = {
  anyOf: [
    { type: 'integer', minimum: 1, maximum: 65535 },
    { type: 'string', pattern: '^\\s*[0-9]{1,5}\\s*$' },
  ],
};

export function portNode(): SchemaNode<number> {
  return {
    docType: 'port',
    read(value, path, context) {
      if (templateGate(value, path, context, 'a port number')) return INVALID;
      const read = readPort(value);
      if (read.ok) return read.value;
      context.error(path, `expected ${read.expected}, found ${found(value, path)}`);
      return INVALID;
    },
    jsonSchema: () => ({ $ref: '#/definitions/port' }),
  };
}

export interface EnumOptions<V extends string> {
  /** Other spellings accepted for a value (compared case-insensitively). */
  readonly aliases?: Readonly<Record<string, V>>;
  /** Exact spelling only (the default compares case-insensitively). */
  readonly caseSensitive?: boolean;
  /** Values that are accepted with a warning (e.g. `false` for `shutdown`). */
  readonly legacy?: (value: unknown) => { value: V; warning: string | undefined } | undefined;
  /** What `legacy` accepts, for the JSON Schema. */
  readonly legacySchema?: JsonSchema;
}

export function enumNode<V extends string>(
  values: readonly V[],
  options: EnumOptions<V> = {},
): SchemaNode<V> {
  const expected = values.map((value) => JSON.stringify(value)).join(', ');
  const lookup = new Map<string, V>();
  for (const value of values) lookup.set(options.caseSensitive === true ? value : value.toLowerCase(), value);
  for (const [alias, value] of Object.entries(options.aliases ?? {})) lookup.set(alias.toLowerCase(), value);
  return {
    docType: values.map((value) => `\`${value}\``).join(' | '),
    read(value, path, context) {
      if (templateGate(value, path, context, `one of ${expected}`)) return INVALID;
      const legacy = options.legacy?.(value);
      if (legacy !== undefined) {
        if (legacy.warning !== undefined) context.warning(path, legacy.warning, 'value');
        return legacy.value;
      }
      if (typeof value === 'string') {
        const word = value.trim();
        const match = lookup.get(options.caseSensitive === true ? word : word.toLowerCase());
        if (match !== undefined) return match;
      }
      context.error(path, `expected one of ${expected}, found ${found(value, path)}`);
      return INVALID;
    },
    jsonSchema: () => {
      const words: JsonSchema =
        options.caseSensitive === true
          ? { enum: [...values] }
          : { type: 'string', pattern: wordsPattern([...values, ...Object.keys(options.aliases ?? {})]) };
      return orTemplate(
        options.legacySchema === undefined ? words : { anyOf: [words, options.legacySchema] },
      );
    },
  };
}

export interface StringOptions {
  readonly docType: string;
  /** Returns a problem with the text ("expected …"), or undefined when it is fine. */
  readonly check?: (text: string) => string | undefined;
  /** A failed check is a warning, not an error: the original never checked it. */
  readonly checkWarns?: boolean;
  readonly pattern?: string;
  /** Normalises the text after checking (e.g. upper-casing capability names). */
  readonly normalise?: (text: string) => string;
}

/**
 * Text whose meaning taupage needs (a path, URL, host or bucket name). Numbers are read as text;
 * booleans and structures are errors. It cannot be an aws:kms: value: taupage must read it.
 */
export function stringNode(options: StringOptions): SchemaNode<string> {
  return {
    docType: options.docType,
    read(value, path, context) {
      const template = context.template && isTemplateValue(value);
      if (template && typeof value !== 'string') return INVALID; // opaque CloudFormation function
      if (encryptedGate(value, path, context, options.docType)) return INVALID;
      if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
      if (typeof value !== 'string') {
        context.error(path, `expected ${withArticle(options.docType)}, found ${found(value, path)}`);
        return INVALID;
      }
      if (!template && options.check !== undefined) {
        const problem = options.check(value);
        if (problem !== undefined) {
          if (options.checkWarns !== true) {
            context.error(path, `${problem}, found ${found(value, path)}`);
            return INVALID;
          }
          context.warning(path, `${problem}, found ${found(value, path)}`, 'value');
        }
      }
      return options.normalise === undefined || template ? value : options.normalise(value);
    },
    jsonSchema: () => {
      const text: JsonSchema =
        options.pattern === undefined ? { type: 'string' } : { type: 'string', pattern: options.pattern };
      return options.pattern === undefined
        ? { anyOf: [text, { type: 'number' }, TEMPLATE_REF] }
        : orTemplate(text);
    },
  };
}

/**
 * Free text that may be a secret: any scalar (numbers and booleans become text, `true` →
 * "true"), or `aws:kms:<base64>`, which the agent decrypts at boot. The typed value is a
 * ConfigValue, so code cannot use a ciphertext as if it were the plaintext.
 */
export function secretTextNode(docType = 'text or `aws:kms:…`'): SchemaNode<ConfigValue> {
  return {
    docType,
    read(value, path, context) {
      if (isEncrypted(value)) {
        // Malformed base64 is reported once, by the walk that collects every aws:kms: value.
        const ciphertext = readCiphertext(value);
        return ciphertext === undefined ? INVALID : { kind: 'encrypted', ciphertext };
      }
      if (context.template && intrinsicFunctionName(value) !== undefined) return INVALID;
      const text = scalarToString(value);
      if (text === undefined) {
        context.error(path, `expected a text value, found ${found(value, path)}`);
        return INVALID;
      }
      return { kind: 'plain', value: text };
    },
    jsonSchema: () => ({ anyOf: [{ type: ['string', 'number', 'boolean'] }, TEMPLATE_REF] }),
  };
}

/** A size: bytes as a number, or with a unit (`512m`, `1G`, `4K`). The typed value is in bytes. */
export function sizeNode(docType = 'size (`512m`, `1G`, bytes)'): SchemaNode<number> {
  const expected = 'a size such as 512m, 1G or a number of bytes';
  return {
    docType,
    read(value, path, context) {
      if (templateGate(value, path, context, expected)) return INVALID;
      if (encryptedGate(value, path, context, expected)) return INVALID;
      const bytes = readSize(value);
      if (bytes !== undefined) return bytes;
      context.error(path, `expected ${expected}, found ${found(value, path)}`);
      return INVALID;
    },
    jsonSchema: () => ({ $ref: '#/definitions/size' }),
  };
}

/** A string that must be an absolute path (`/data`, `/dev/xvdf`). */
export function absolutePathNode(docType = 'absolute path'): SchemaNode<string> {
  return stringNode({
    docType,
    pattern: '^/',
    check: (text) =>
      text.startsWith('/') && !/[\0\n]/.test(text)
        ? undefined
        : `expected ${withArticle(docType)} starting with /`,
  });
}

export function urlNode(): SchemaNode<string> {
  return stringNode({
    docType: 'URL',
    check: (text) =>
      URL.canParse(text) && /^[a-z][a-z0-9+.-]*:/i.test(text) ? undefined : 'expected an absolute URL',
  });
}
