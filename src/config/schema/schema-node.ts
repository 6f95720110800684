import type { MutableTagPolicy } from '../image-reference.js';
import type { ConfigPath } from '../yaml-document.js';
import type { FieldSpec, IgnoredKey } from './object-nodes.js';

/**
 * The building block of the TaupageConfig schema. One node knows, for one kind of value, how to
 * read it from YAML into its typed form (reporting every problem on the way), how to describe
 * itself in JSON Schema, and how to name its type in docs/configuration.md — so validation, the
 * exported JSON Schema and the docs cannot disagree.
 */
export interface SchemaNode<T> {
  /**
   * Reads a present, non-null YAML value. Returns INVALID after reporting an error, or when the
   * value is an opaque template (a placeholder that cannot be checked). Never throws.
   */
  read(value: unknown, path: ConfigPath, context: ReadContext): T | Invalid;
  /** JSON Schema (draft 2020-12) for the value as written in YAML. */
  jsonSchema(): JsonSchema;
  /** The type as docs/configuration.md shows it, e.g. `boolean`, `list of ports`. */
  readonly docType: string;
  /** Keys inside this value, for the docs table (`docker.log_driver`, `mounts.<path>.partition`). */
  readonly nested?: NestedKeys;
}

export interface NestedKeys {
  /** Between the parent key and the nested key: '' for a map, `<path>` for a map of maps. */
  readonly via: string;
  readonly fields: readonly NamedField[];
  readonly ignored: readonly IgnoredKey[];
}

/** A key with the name of its field in the typed config. */
export interface NamedField {
  readonly name: string;
  readonly spec: FieldSpec<unknown>;
}

export type JsonSchema = Readonly<Record<string, unknown>>;

/** No typed value: an error was reported (or the value is an unchecked template). */
export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

/** A map or list entry to leave out of the typed value (a warning said so); not an error. */
export const OMIT: unique symbol = Symbol('omit');
export type Omitted = typeof OMIT;

export type IssuePart = 'key' | 'value';

/** Where nodes report to. Paths are relative to the TaupageConfig being read. */
export interface ReadContext {
  /**
   * true while checking a config as written (Senza definitions, taupage.yaml in a repository):
   * Senza placeholders and CloudFormation functions are opaque. false for rendered user data, as
   * the agent sees it at boot: there, `{{…}}` is just text.
   */
  readonly template: boolean;
  /** The AMI's policy for mutable image tags (`--mutable-tags`); `reject` unless set. */
  readonly mutableTags: MutableTagPolicy;
  error(path: ConfigPath, message: string, part?: IssuePart): void;
  warning(path: ConfigPath, message: string, part?: IssuePart): void;
  /** A template value stands where taupage needs a concrete one; reported as "not checked". */
  unchecked(path: ConfigPath, expected: string): void;
  /** The scalar exactly as written in the YAML source, when known (to spot `1.10` → 1.1). */
  sourceText(path: ConfigPath): string | undefined;
}
