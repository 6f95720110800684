import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gauge, single, type MetricFamily, type Sample } from './metric-family.js';

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:\s*[a-zA-Z_][a-zA-Z0-9_]*\s*=\s*"(?:[^"\\]|\\.)*"\s*,?)*\s*\})?\s+(\S+)(?:\s+(\S+))?\s*$/;
const VALUE = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf)$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
/** A textfile is written by cron jobs on the host; a runaway one must not blow up a scrape. */
const MAX_FILE_BYTES = 4 * 1024 * 1024;

interface TextFamily {
  help: string | undefined;
  type: string | undefined;
  lines: string[];
}

export interface TextfileResult {
  /** The merged families, in exposition format. */
  readonly text: string;
  /** node_textfile_mtime_seconds{file} and node_textfile_scrape_error, like node_exporter's. */
  readonly families: MetricFamily[];
}

class TextfileError extends Error {}

/**
 * Parses one *.prom file into families. Like node_exporter, a file that does not parse, or has
 * client-side timestamps, is rejected whole (and node_textfile_scrape_error becomes 1).
 */
export function parseTextfile(text: string): Map<string, TextFamily> {
  const families = new Map<string, TextFamily>();
  const familyOf = (name: string): TextFamily => {
    let family = families.get(name);
    if (family === undefined) families.set(name, (family = { help: undefined, type: undefined, lines: [] }));
    return family;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const match = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (match === null) continue; // a plain comment
      const [, keyword, name = '', rest = ''] = match;
      if (!NAME.test(name)) throw new TextfileError(`invalid metric name ${name}`);
      const family = familyOf(name);
      if (keyword === 'HELP') family.help = rest;
      else if (TYPES.has(rest)) family.type = rest;
      else throw new TextfileError(`invalid type ${rest}`);
      continue;
    }
    const match = SAMPLE.exec(line);
    if (match === null) throw new TextfileError('invalid sample line');
    const [, name = '', , value = '', timestamp] = match;
    if (!VALUE.test(value)) throw new TextfileError(`invalid value for ${name}`);
    if (timestamp !== undefined) throw new TextfileError('client-side timestamps are not supported');
    const base = name.replace(/_(bucket|sum|count)$/, '');
    const declared = families.get(base)?.type;
    familyOf(base !== name && (declared === 'histogram' || declared === 'summary') ? base : name).lines.push(
      line,
    );
  }
  return families;
}

/**
 * node_exporter's textfile collector: every `*.prom` file in `dir` merged into the scrape.
 * Families that clash with ours (`reserved`) are dropped and flagged as an error rather than
 * producing an invalid exposition.
 */
export async function readTextfiles(
  dir: string | undefined,
  reserved: ReadonlySet<string>,
): Promise<TextfileResult> {
  let error = 0;
  const mtimes: Sample[] = [];
  const merged = new Map<string, TextFamily>();
  if (dir !== undefined) {
    let names: string[] = [];
    try {
      names = (await readdir(dir)).filter((name) => name.endsWith('.prom')).sort();
    } catch (cause) {
      // A missing directory is the normal case on hosts without textfile writers.
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') error = 1;
    }
    for (const name of names) {
      const path = join(dir, name);
      try {
        const info = await stat(path);
        if (info.size > MAX_FILE_BYTES) throw new TextfileError('file too large');
        const families = parseTextfile(await readFile(path, 'utf8'));
        for (const family of families.keys()) {
          if (reserved.has(family)) throw new TextfileError(`${family} clashes with a built-in metric`);
        }
        for (const [family, content] of families) {
          const existing = merged.get(family);
          if (existing === undefined) merged.set(family, content);
          else existing.lines.push(...content.lines);
        }
        mtimes.push({ labels: { file: path }, value: info.mtimeMs / 1000 });
      } catch {
        error = 1;
      }
    }
  }
  let text = '';
  for (const [name, family] of [...merged].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (family.lines.length === 0) continue;
    if (family.help !== undefined) text += `# HELP ${name} ${family.help}\n`;
    if (family.type !== undefined) text += `# TYPE ${name} ${family.type}\n`;
    text += `${family.lines.join('\n')}\n`;
  }
  return {
    text,
    families: [
      gauge('node_textfile_mtime_seconds', 'Unixtime mtime of textfiles successfully read.', mtimes),
      gauge(
        'node_textfile_scrape_error',
        '1 if there was an error opening or reading a file, 0 otherwise',
        single(error),
      ),
    ],
  };
}
