import { isMapping } from '../config-values.js';
import type { ConfigPath } from '../yaml-document.js';
import { found, TEMPLATE_REF, withArticle } from './scalar-nodes.js';
import {
  INVALID,
  OMIT,
  type Invalid,
  type JsonSchema,
  type Omitted,
  type ReadContext,
  type SchemaNode,
} from './schema-node.js';
import { isTemplateValue } from './template-values.js';

/** Template values standing for a whole list or map: opaque in a Senza definition. */
export function opaque(value: unknown, context: ReadContext): boolean {
  return context.template && isTemplateValue(value) && typeof value !== 'string';
}

export interface ListOptions {
  readonly docType: string;
  /** A single item is read as a one-item list, with this warning (e.g. `ssh_ports: 2222`). */
  readonly single?: (item: unknown) => string | undefined;
  /** Extra hint for the error when a scalar is given (e.g. "write it as a list: [NET_ADMIN]"). */
  readonly scalarHint?: (item: unknown) => string;
}

export function listNode<T>(item: SchemaNode<T>, options: ListOptions): SchemaNode<readonly T[]> {
  return {
    docType: options.docType,
    read(value, path, context) {
      if (opaque(value, context)) return INVALID;
      if (!Array.isArray(value)) {
        const warning = options.single?.(value);
        if (warning !== undefined) {
          const one = item.read(value, path, context);
          if (one === INVALID) return INVALID;
          context.warning(path, warning, 'value');
          return Object.freeze([one]);
        }
        const hint = options.scalarHint === undefined ? '' : ` (${options.scalarHint(value)})`;
        context.error(path, `expected ${withArticle(options.docType)}, found ${found(value, path)}${hint}`);
        return INVALID;
      }
      const items: T[] = [];
      let invalid = false;
      for (const [index, element] of (value as unknown[]).entries()) {
        const read = item.read(element, [...path, index], context);
        if (read === INVALID) invalid = true;
        else items.push(read);
      }
      return invalid ? INVALID : Object.freeze(items);
    },
    jsonSchema: () => {
      const list = { type: 'array', items: item.jsonSchema() };
      return options.single === undefined
        ? { anyOf: [list, TEMPLATE_REF] }
        : { anyOf: [list, item.jsonSchema()] };
    },
  };
}

export interface MapOptions<K> {
  readonly docType: string;
  /** Reads a key; report and return INVALID (or OMIT after a warning) when it is wrong. */
  readonly key: (key: string, path: ConfigPath, context: ReadContext) => K | Invalid | Omitted;
  readonly keySchema?: JsonSchema;
  /** How the docs name an entry's key when entries are maps (`<path>`). */
  readonly entryName?: string;
  /** What a `KEY:` with no value means; undefined hands null to the value node. */
  readonly nullValue?: (path: ConfigPath, context: ReadContext) => Omitted | Invalid;
}

/** A YAML map with free keys (environment, sysctl, cloudwatch_logs, …), read into a Map. */
export function mapNode<K, V>(value: SchemaNode<V>, options: MapOptions<K>): SchemaNode<ReadonlyMap<K, V>> {
  return {
    docType: options.docType,
    ...(value.nested === undefined
      ? {}
      : { nested: { ...value.nested, via: options.entryName ?? '<name>' } }),
    read(raw, path, context) {
      if (opaque(raw, context)) return INVALID;
      if (!isMapping(raw)) {
        context.error(path, `expected ${withArticle(options.docType)}, found ${found(raw, path)}`);
        return INVALID;
      }
      const entries = new Map<K, V>();
      let invalid = false;
      for (const [name, item] of Object.entries(raw)) {
        const itemPath = [...path, name];
        const key = options.key(name, itemPath, context);
        let read: V | Invalid | Omitted;
        if ((item === null || item === undefined) && options.nullValue !== undefined)
          read = options.nullValue(itemPath, context);
        else read = value.read(item, itemPath, context);
        if (key === INVALID || read === INVALID) invalid = true;
        else if (key !== OMIT && read !== OMIT) entries.set(key, read);
      }
      return invalid ? INVALID : entries;
    },
    jsonSchema: () => ({
      anyOf: [
        {
          type: 'object',
          ...(options.keySchema === undefined ? {} : { propertyNames: options.keySchema }),
          additionalProperties: { anyOf: [value.jsonSchema(), { type: 'null' }] },
        },
        TEMPLATE_REF,
      ],
    }),
  };
}

/** A node whose typed value is converted (e.g. a Map into a list); docs and JSON Schema unchanged. */
export function mapped<A, B>(node: SchemaNode<A>, convert: (value: A) => B): SchemaNode<B> {
  return {
    docType: node.docType,
    ...(node.nested === undefined ? {} : { nested: node.nested }),
    read(value, path, context) {
      const read = node.read(value, path, context);
      return read === INVALID ? INVALID : convert(read);
    },
    jsonSchema: () => node.jsonSchema(),
  };
}

/** Any string key, as written. */
export function anyKey(key: string): string {
  return key;
}
