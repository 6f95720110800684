/**
 * One metric family in our own terms, rendered in the Prometheus text exposition format
 * (version 0.0.4). The host collectors build these directly: they mirror node_exporter's
 * families exactly (names, TYPE, HELP, labels), which a generic client library's metric
 * classes would only get in the way of.
 */
export type MetricType = 'counter' | 'gauge' | 'untyped';

export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: readonly Sample[];
}

export const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

export function gauge(name: string, help: string, samples: readonly Sample[]): MetricFamily {
  return { name, help, type: 'gauge', samples };
}

export function counter(name: string, help: string, samples: readonly Sample[]): MetricFamily {
  return { name, help, type: 'counter', samples };
}

export function single(value: number): Sample[] {
  return [{ labels: NO_LABELS, value }];
}

export function renderFamilies(families: readonly MetricFamily[]): string {
  let out = '';
  for (const family of families) {
    if (family.samples.length === 0) continue;
    out += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      out += `${family.name}${renderLabels(sample.labels)} ${formatValue(sample.value)}\n`;
    }
  }
  return out;
}

function renderLabels(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((key) => `${key}="${escapeLabelValue(labels[key] ?? '')}"`).join(',')}}`;
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
