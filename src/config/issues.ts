import { formatPath, type ConfigPath, type SourcePosition, type YamlDocument } from './yaml-document.js';

/** One validation finding, as `taupage validate --format json` prints it. */
export interface ConfigIssue {
  /** Dotted key path, e.g. `ports.8080`, `SenzaComponents[1].AppServer.TaupageConfig.ports`. */
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

// A hostile config can produce an issue per key; a person reads the first few hundred.
const MAX_ISSUES = 500;

/**
 * Collects errors and warnings, locating each in the YAML source when it came from there.
 * Paths are relative to `prefix` (where the TaupageConfig sits in the document: `[]` for
 * user data, `['SenzaComponents', 1, 'AppServer', 'TaupageConfig']` in a Senza definition).
 */
export class IssueCollector {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];
  #dropped = 0;

  constructor(
    private readonly document: YamlDocument | undefined,
    private readonly prefix: ConfigPath = [],
  ) {}

  error(path: ConfigPath, message: string, part: 'key' | 'value' = 'value'): void {
    if (this.errors.length >= MAX_ISSUES) this.#dropped++;
    else this.errors.push(this.#issue(path, message, part));
  }

  warning(path: ConfigPath, message: string, part: 'key' | 'value' = 'key'): void {
    if (this.warnings.length >= MAX_ISSUES) this.#dropped++;
    else this.warnings.push(this.#issue(path, message, part));
  }

  /** Issues beyond the cap, which were counted but not kept. */
  get dropped(): number {
    return this.#dropped;
  }

  position(path: ConfigPath, part: 'key' | 'value'): SourcePosition | undefined {
    const full = [...this.prefix, ...path];
    return this.document?.positionOf(full, part) ?? nearestAncestor(this.document, full);
  }

  #issue(path: ConfigPath, message: string, part: 'key' | 'value'): ConfigIssue {
    const position = this.position(path, part);
    const dotted = formatPath([...this.prefix, ...path]);
    return position === undefined
      ? { path: dotted, message }
      : { path: dotted, message, line: position.line, column: position.column };
  }
}

function nearestAncestor(document: YamlDocument | undefined, path: ConfigPath): SourcePosition | undefined {
  for (let length = path.length - 1; document !== undefined && length >= 0; length--) {
    const position = document.positionOf(path.slice(0, length), 'key');
    if (position !== undefined) return position;
  }
  return undefined;
}

/** In file order, the way a reader goes through them (object key order puts `8080` before `abc`). */
export function byLine(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort(
    (a, b) =>
      (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER) ||
      (a.column ?? 0) - (b.column ?? 0),
  );
}

/** Issue as one line for humans: `ports.8080 (line 4:3): expected a port number, found "abc"`. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === undefined ? '' : ` (line ${issue.line}:${issue.column ?? 1})`;
  return `${issue.path}${where}: ${issue.message}`;
}
