import type { IgnoredKey } from './schema/object-nodes.js';
import type { NamedField } from './schema/schema-node.js';
import { KEY_GROUPS } from './taupage-schema.js';

/**
 * The key tables of docs/configuration.md, rendered from the schema. The file holds them between
 * the two markers below; test/unit/config/config-docs.test.ts fails when they drift (and
 * rewrites them with TAUPAGE_UPDATE_DOCS=1).
 */
export const DOCS_BEGIN = '<!-- BEGIN GENERATED KEY TABLES (src/config/config-docs.ts) -->';
export const DOCS_END = '<!-- END GENERATED KEY TABLES -->';

const HEADER =
  '| key | type | default | since | status | meaning | TaupageConfig field |\n|---|---|---|---|---|---|---|';

export function renderKeyTables(): string {
  return KEY_GROUPS.map((group) => {
    const rows: string[] = [];
    for (const field of group.fields) rows.push(...fieldRows(field, '', ''));
    for (const ignored of group.ignored) rows.push(ignoredRow(ignored, ''));
    return `### ${group.id}. ${group.title}\n\n${HEADER}\n${rows.join('\n')}`;
  }).join('\n\n');
}

/** docs/configuration.md with its generated part replaced. */
export function withKeyTables(markdown: string): string {
  const begin = markdown.indexOf(DOCS_BEGIN);
  const end = markdown.indexOf(DOCS_END);
  if (begin === -1 || end < begin)
    throw new Error('docs/configuration.md lacks the generated-section markers');
  return `${markdown.slice(0, begin + DOCS_BEGIN.length)}\n\n${renderKeyTables()}\n\n${markdown.slice(end)}`;
}

function fieldRows(
  { name, spec }: NamedField,
  keyPrefix: string,
  fieldPrefix: string,
  inherited?: string,
): string[] {
  const key = `${keyPrefix}${spec.key}`;
  const field = `${fieldPrefix}${name}`;
  // Nested keys share their parent's status.
  const status = spec.doc.status ?? inherited ?? 'supported';
  const rows = [
    row([
      code(key),
      spec.node.docType,
      spec.required ? '**required**' : (spec.doc.defaultText ?? formatDefault(spec.defaultValue)),
      spec.doc.since,
      status === 'supported' ? 'acted on' : 'accepted, not acted on yet',
      spec.doc.meaning,
      code(field),
    ]),
  ];
  const nested = spec.node.nested;
  if (nested !== undefined) {
    const keyVia = nested.via === '' ? `${key}.` : `${key}.${nested.via}.`;
    const fieldVia = nested.via === '' ? `${field}.` : `${field}[…].`;
    for (const child of nested.fields) rows.push(...fieldRows(child, keyVia, fieldVia, status));
    for (const ignored of nested.ignored) rows.push(ignoredRow(ignored, keyVia));
  }
  return rows;
}

const IGNORED_STATUS: Readonly<Record<IgnoredKey['kind'], string>> = {
  'third-party': 'ignored (third-party agent)',
  renamed: 'renamed; ignored',
  removed: 'removed; ignored',
  obsolete: 'obsolete; ignored',
  unmerged: 'never part of Taupage; ignored',
  ignored: 'ignored',
};

function ignoredRow(ignored: IgnoredKey, keyPrefix: string): string {
  return row([
    code(`${keyPrefix}${ignored.key}`),
    ignored.node?.docType ?? '—',
    '—',
    ignored.doc.since,
    IGNORED_STATUS[ignored.kind],
    `${ignored.doc.meaning} Warns: “${ignored.warning}”.`,
    '—',
  ]);
}

function formatDefault(value: unknown): string {
  if (value === undefined) return '—';
  if (typeof value === 'string') return code(value);
  if (typeof value === 'number' || typeof value === 'boolean') return code(String(value));
  if (Array.isArray(value)) return code(`[${value.map(String).join(', ')}]`);
  return '—';
}

function code(text: string): string {
  return `\`${text}\``;
}

/** A table row; `|` inside cells (even inside code spans) must be escaped in GitHub tables. */
function row(cells: readonly string[]): string {
  return `| ${cells.map((cell) => cell.replace(/\n/g, ' ').replace(/(?<!\\)\|/g, '\\|')).join(' | ')} |`;
}
