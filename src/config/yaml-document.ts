import {
  constructFromEvents,
  defineScalarTag,
  EVENT_ID,
  getScalarValue,
  NOT_RESOLVED,
  parseEvents,
  SCALAR_STYLE,
  YAML11_SCHEMA,
  YAMLException,
  type Event,
  type ScalarEvent,
} from 'js-yaml';

/** A key path into the config: `['ports', '8080']`, `['mounts', '/data', 'partition']`. */
export type ConfigPath = readonly (string | number)[];

export interface SourcePosition {
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
}

export interface YamlDocument {
  readonly value: unknown;
  /** Where the key (or the value) at `path` was written, when it came from this text. */
  positionOf(path: ConfigPath, part?: 'key' | 'value'): SourcePosition | undefined;
  /** A scalar value exactly as written (`1.10`, not 1.1), when it came from this text. */
  sourceText(path: ConfigPath): string | undefined;
  /** Keys given twice in one map (PyYAML keeps the last; so do we), at the later one. */
  readonly duplicateKeys: readonly ConfigPath[];
}

export interface ParseOptions {
  /** Lines before this text in the file it came from (a MIME part), added to every line. */
  readonly lineOffset?: number;
}

export class YamlSyntaxError extends Error {
  override readonly name = 'YamlSyntaxError';
  constructor(
    readonly reason: string,
    readonly position: SourcePosition | undefined,
  ) {
    super(position ? `${reason} (line ${position.line}, column ${position.column})` : reason);
  }
}

/** Dotted path for messages: `ports.8080`, `volumes.raid./dev/md/raid0.devices[1]`. */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out === '' ? '(root)' : out;
}

// Caps against hostile input: user data is at most 16 KB, but `validate` reads any file.
const MAX_DEPTH = 50;
const MAX_ALIASES = 100;
// Aliases share nodes, so a few of them can stand for millions ("billion laughs"); everything
// that walks the value (validation, the digest) would then take forever.
const MAX_EXPANDED_NODES = 100_000;

const PYYAML_BOOLEANS: ReadonlyMap<string, boolean> = new Map([
  ...['yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON'].map((word) => [word, true] as const),
  ...['no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF'].map((word) => [word, false] as const),
]);

/**
 * YAML 1.1 booleans as PyYAML reads them. js-yaml's YAML 1.1 schema also takes `y` and `n` for
 * booleans; PyYAML (the original agent, and Senza, which writes the user data) does not, so
 * `ANSWER: y` must stay the text "y".
 */
const PYYAML_BOOL_TAG = defineScalarTag<boolean>('tag:yaml.org,2002:bool', {
  implicit: true,
  implicitFirstChars: ['y', 'Y', 'n', 'N', 't', 'T', 'f', 'F', 'o', 'O'],
  resolve: (source) => PYYAML_BOOLEANS.get(source) ?? NOT_RESOLVED,
  identify: (data: unknown) => typeof data === 'boolean',
});

const SCHEMA = YAML11_SCHEMA.withTags(PYYAML_BOOL_TAG);

/**
 * Parses one YAML document the way the original Taupage (and Senza, which writes user data)
 * did: YAML 1.1 as in PyYAML, so `yes`/`no` are booleans and `1.10` is the float 1.1. Besides the
 * value, it keeps where each key and value was written, so errors can name a line and column.
 */
export function parseYamlDocument(text: string, options: ParseOptions = {}): YamlDocument {
  const lineOffset = options.lineOffset ?? 0;
  let events: Event[];
  let value: unknown;
  try {
    events = parseEvents(text, { maxDepth: MAX_DEPTH });
    const documents = constructFromEvents(events, {
      source: text,
      schema: SCHEMA,
      maxAliases: MAX_ALIASES,
      // Duplicate keys: the last one wins, as in PyYAML; the validator warns about them.
      json: true,
    });
    if (documents.length > 1) {
      throw new YamlSyntaxError(
        'expected one YAML document, found several (remove the --- separators)',
        undefined,
      );
    }
    value = documents[0] ?? null;
  } catch (error) {
    if (error instanceof YamlSyntaxError) throw error;
    if (error instanceof YAMLException) {
      const mark = error.mark as { line?: number; column?: number } | undefined;
      const position =
        mark?.line === undefined
          ? undefined
          : { line: mark.line + 1 + lineOffset, column: (mark.column ?? 0) + 1 };
      throw new YamlSyntaxError(error.reason, position);
    }
    if (error instanceof RangeError) throw new YamlSyntaxError('the YAML is nested too deeply', undefined);
    throw error;
  }
  if (expandedSize(value, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES) {
    throw new YamlSyntaxError(`aliases expand to more than ${MAX_EXPANDED_NODES} values`, undefined);
  }
  const index = indexPositions(text, events);
  return {
    value,
    duplicateKeys: index.duplicates,
    positionOf(path, part = 'value') {
      const entry = index.get(pathKey(path));
      const offset =
        entry === undefined ? undefined : part === 'key' ? (entry.key ?? entry.value) : entry.value;
      if (offset === undefined) return undefined;
      const position = index.toPosition(offset);
      return { line: position.line + lineOffset, column: position.column };
    },
    sourceText(path) {
      const entry = index.get(pathKey(path));
      return entry?.value === undefined || entry.valueEnd === undefined
        ? undefined
        : text.slice(entry.value, entry.valueEnd);
    },
  };
}

/** Counts the nodes of a value as a walk would visit them (aliases expanded), up to `limit` + 1. */
function expandedSize(root: unknown, limit: number): number {
  let count = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0 && count <= limit) {
    const value = stack.pop();
    count++;
    if (Array.isArray(value)) stack.push(...(value as unknown[]));
    else if (typeof value === 'object' && value !== null && !(value instanceof Date))
      stack.push(...Object.values(value as Record<string, unknown>));
  }
  return count;
}

// A map key and a sequence index never meet at the same level, so joining the parts is enough.
function pathKey(path: ConfigPath): string {
  return path.join('\u0000');
}

interface Frame {
  readonly kind: 'mapping' | 'sequence' | 'document';
  /** undefined inside a complex (non-scalar) mapping key: nothing there is addressable. */
  readonly path: (string | number)[] | undefined;
  expectKey: boolean;
  pendingKey: string | undefined;
  nextIndex: number;
  seen?: Set<string>;
}

interface IndexEntry {
  key?: number;
  value?: number;
  /** End of a scalar value (exclusive). */
  valueEnd?: number;
}

interface PositionIndex {
  get(key: string): IndexEntry | undefined;
  toPosition(offset: number): SourcePosition;
  readonly duplicates: ConfigPath[];
}

function indexPositions(text: string, events: readonly Event[]): PositionIndex {
  const entries = new Map<string, IndexEntry>();
  const duplicates: ConfigPath[] = [];
  const stack: Frame[] = [];
  let lastOffset = 0;

  const record = (
    path: (string | number)[] | undefined,
    part: 'key' | 'value',
    offset: number,
    end?: number,
  ): void => {
    if (path === undefined) return;
    const key = pathKey(path);
    const entry = entries.get(key) ?? {};
    entry[part] ??= offset;
    if (part === 'value' && end !== undefined) entry.valueEnd ??= end;
    entries.set(key, entry);
  };

  for (const event of events) {
    if (event.type === EVENT_ID.POP) {
      stack.pop();
      continue;
    }
    if (event.type === EVENT_ID.DOCUMENT) {
      stack.push({ kind: 'document', path: [], expectKey: false, pendingKey: undefined, nextIndex: 0 });
      continue;
    }
    const offset = nodeOffset(event) ?? lastOffset;
    lastOffset = offset;
    const top = stack.at(-1);
    let path: (string | number)[] | undefined;
    if (top === undefined || top.path === undefined) {
      path = undefined;
    } else if (top.kind === 'document') {
      path = top.path;
    } else if (top.kind === 'sequence') {
      path = [...top.path, top.nextIndex++];
    } else if (top.expectKey) {
      top.expectKey = false;
      if (event.type === EVENT_ID.SCALAR) {
        top.pendingKey = resolveKey(text, event);
        const keyPath = [...top.path, top.pendingKey];
        top.seen ??= new Set();
        if (top.seen.has(top.pendingKey)) {
          // The later key wins, so point at it: forget where the earlier one was.
          duplicates.push(keyPath);
          const stale = pathKey(keyPath);
          const children = `${stale}\u0000`;
          for (const candidate of entries.keys())
            if (candidate === stale || candidate.startsWith(children)) entries.delete(candidate);
        }
        top.seen.add(top.pendingKey);
        record(keyPath, 'key', offset);
      } else {
        top.pendingKey = undefined;
      }
      if (event.type === EVENT_ID.MAPPING || event.type === EVENT_ID.SEQUENCE) {
        stack.push({
          kind: eventKind(event.type),
          path: undefined,
          expectKey: true,
          pendingKey: undefined,
          nextIndex: 0,
        });
      }
      continue;
    } else {
      top.expectKey = true;
      path = top.pendingKey === undefined ? undefined : [...top.path, top.pendingKey];
    }
    record(
      path,
      'value',
      offset,
      event.type === EVENT_ID.SCALAR && event.valueEnd >= 0 ? event.valueEnd : undefined,
    );
    if (event.type === EVENT_ID.MAPPING || event.type === EVENT_ID.SEQUENCE) {
      stack.push({ kind: eventKind(event.type), path, expectKey: true, pendingKey: undefined, nextIndex: 0 });
    }
  }

  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  return {
    duplicates,
    get: (key) => entries.get(key),
    toPosition(offset) {
      let low = 0;
      let high = lineStarts.length - 1;
      while (low < high) {
        const mid = (low + high + 1) >> 1;
        if ((lineStarts[mid] ?? 0) <= offset) low = mid;
        else high = mid - 1;
      }
      return { line: low + 1, column: offset - (lineStarts[low] ?? 0) + 1 };
    },
  };
}

function eventKind(type: number): 'mapping' | 'sequence' {
  return type === EVENT_ID.MAPPING ? 'mapping' : 'sequence';
}

function nodeOffset(event: Event): number | undefined {
  switch (event.type) {
    case EVENT_ID.MAPPING:
    case EVENT_ID.SEQUENCE:
      return event.start;
    case EVENT_ID.SCALAR:
      if (event.valueStart < 0) return undefined;
      // Point at the opening quote of a quoted scalar, where the token starts.
      return event.style === SCALAR_STYLE.SINGLE_QUOTED || event.style === SCALAR_STYLE.DOUBLE_QUOTED
        ? event.valueStart - 1
        : event.valueStart;
    case EVENT_ID.ALIAS:
      return event.anchorStart >= 0 ? event.anchorStart : undefined;
    default:
      return undefined;
  }
}

const PLAIN_TEXT_KEY = /^[A-Za-z_/][A-Za-z0-9_./-]*$/;
const DECIMAL_KEY = /^(?:0|[1-9][0-9]{0,14})$/;
const YAML11_WORDS = new Set(
  ['yes', 'no', 'true', 'false', 'on', 'off', 'null'].flatMap((word) => [
    word,
    word.toUpperCase(),
    `${word.charAt(0).toUpperCase()}${word.slice(1)}`,
  ]),
);

/** The key as the constructed object spells it: `8080` → "8080", `yes` → "true", `1.10` → "1.1". */
function resolveKey(text: string, event: ScalarEvent): string {
  const untagged = event.tagStart < 0;
  // Fast paths (most keys): quoted keys are text as written; plain words that no YAML 1.1 type
  // claims are text too. Everything else goes through the schema, like the value did.
  if (untagged && event.style !== SCALAR_STYLE.PLAIN) return getScalarValue(text, event);
  if (untagged && event.valueStart >= 0) {
    const raw = text.slice(event.valueStart, event.valueEnd);
    if (PLAIN_TEXT_KEY.test(raw) && !YAML11_WORDS.has(raw)) return raw;
    if (DECIMAL_KEY.test(raw)) return String(Number(raw));
  }
  try {
    const [value] = constructFromEvents(
      [
        { type: EVENT_ID.DOCUMENT, explicitStart: false, explicitEnd: false, directives: [] },
        event,
        { type: EVENT_ID.POP },
      ],
      { source: text, schema: SCHEMA },
    );
    return value instanceof Date ? value.toISOString() : String(value);
  } catch {
    return getScalarValue(text, event);
  }
}
