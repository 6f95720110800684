import {
  constructFromEvents,
  EVENT_ID,
  getScalarValue,
  parseEvents,
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

/**
 * Parses one YAML document the way the original Taupage (and Senza, which writes user data)
 * did: YAML 1.1 as in PyYAML, so `yes`/`no` are booleans and `1.10` is the float 1.1. Besides the
 * value, it keeps where each key and value was written, so errors can name a line and column.
 */
export function parseYamlDocument(text: string): YamlDocument {
  let events: Event[];
  let value: unknown;
  try {
    events = parseEvents(text, { maxDepth: MAX_DEPTH });
    const documents = constructFromEvents(events, {
      source: text,
      schema: YAML11_SCHEMA,
      maxAliases: MAX_ALIASES,
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
        mark?.line === undefined ? undefined : { line: mark.line + 1, column: (mark.column ?? 0) + 1 };
      throw new YamlSyntaxError(error.reason, position);
    }
    throw error;
  }
  const index = indexPositions(text, events);
  return {
    value,
    positionOf(path, part = 'value') {
      const entry = index.get(pathKey(path));
      const offset =
        entry === undefined ? undefined : part === 'key' ? (entry.key ?? entry.value) : entry.value;
      return offset === undefined ? undefined : index.toPosition(offset);
    },
  };
}

function pathKey(path: ConfigPath): string {
  return JSON.stringify(path.map(String));
}

interface Frame {
  readonly kind: 'mapping' | 'sequence' | 'document';
  /** undefined inside a complex (non-scalar) mapping key: nothing there is addressable. */
  readonly path: (string | number)[] | undefined;
  expectKey: boolean;
  pendingKey: string | undefined;
  nextIndex: number;
}

interface PositionIndex {
  get(key: string): { key?: number; value?: number } | undefined;
  toPosition(offset: number): SourcePosition;
}

function indexPositions(text: string, events: readonly Event[]): PositionIndex {
  const entries = new Map<string, { key?: number; value?: number }>();
  const stack: Frame[] = [];
  let lastOffset = 0;

  const record = (path: (string | number)[] | undefined, part: 'key' | 'value', offset: number): void => {
    if (path === undefined) return;
    const key = pathKey(path);
    const entry = entries.get(key) ?? {};
    entry[part] ??= offset;
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
        record([...top.path, top.pendingKey], 'key', offset);
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
    record(path, 'value', offset);
    if (event.type === EVENT_ID.MAPPING || event.type === EVENT_ID.SEQUENCE) {
      stack.push({ kind: eventKind(event.type), path, expectKey: true, pendingKey: undefined, nextIndex: 0 });
    }
  }

  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  return {
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
      return event.valueStart >= 0 ? event.valueStart : undefined;
    case EVENT_ID.ALIAS:
      return event.anchorStart >= 0 ? event.anchorStart : undefined;
    default:
      return undefined;
  }
}

/** The key as the constructed object spells it: `8080` → "8080", `yes` → "true", `1.10` → "1.1". */
function resolveKey(text: string, event: ScalarEvent): string {
  try {
    const [value] = constructFromEvents(
      [
        { type: EVENT_ID.DOCUMENT, explicitStart: false, explicitEnd: false, directives: [] },
        event,
        { type: EVENT_ID.POP },
      ],
      { source: text, schema: YAML11_SCHEMA },
    );
    return value instanceof Date ? value.toISOString() : String(value);
  } catch {
    return getScalarValue(text, event);
  }
}
