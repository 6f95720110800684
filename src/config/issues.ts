import { formatPath, type ConfigPath, type YamlDocument } from './yaml-document.js';

/** One validation finding, as `taupage validate --format json` prints it. */
export interface ConfigIssue {
  /** Dotted key path, e.g. `ports.8080`. */
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
}

/** Collects errors and warnings, locating each in the YAML source when it came from there. */
export class IssueCollector {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];

  constructor(private readonly document: YamlDocument | undefined) {}

  error(path: ConfigPath, message: string, part: 'key' | 'value' = 'value'): void {
    this.errors.push(this.#issue(path, message, part));
  }

  warning(path: ConfigPath, message: string, part: 'key' | 'value' = 'key'): void {
    this.warnings.push(this.#issue(path, message, part));
  }

  #issue(path: ConfigPath, message: string, part: 'key' | 'value'): ConfigIssue {
    const position = this.document?.positionOf(path, part) ?? nearestAncestor(this.document, path);
    return position === undefined
      ? { path: formatPath(path), message }
      : { path: formatPath(path), message, line: position.line, column: position.column };
  }
}

function nearestAncestor(document: YamlDocument | undefined, path: ConfigPath) {
  for (let length = path.length - 1; document !== undefined && length > 0; length--) {
    const position = document.positionOf(path.slice(0, length), 'key');
    if (position !== undefined) return position;
  }
  return undefined;
}

/** Issue as one line for humans: `ports.8080 (line 4:3): expected a port number, found "abc"`. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === undefined ? '' : ` (line ${issue.line}:${issue.column ?? 1})`;
  return `${issue.path}${where}: ${issue.message}`;
}
