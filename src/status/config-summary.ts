import { REDACTED, Secret } from '../core/secret.js';

/** Key names whose values are secrets whatever they look like (the original masked "pass"). */
const SENSITIVE_KEY = /pass|secret|token|credential|auth|private|cookie|key|dockercfg/i;
const KMS_PREFIX = 'aws:kms:';
/** `scheme://user:password@host` — credentials in a URL are secrets too. */
const URL_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/i;

/**
 * The config as GET /status shows it: every key present, with every secret, every `aws:kms:`
 * value and every value under a sensitive-looking key replaced by "[redacted]". Walks any shape
 * (the typed TaupageConfig, Maps, arrays of {name, value}), so it does not break when the
 * config model grows.
 */
export function summarizeConfig(config: unknown): Record<string, unknown> {
  const summary = summarize(config, false);
  return typeof summary === 'object' && summary !== null && !Array.isArray(summary)
    ? (summary as Record<string, unknown>)
    : {};
}

function summarize(value: unknown, sensitive: boolean): unknown {
  if (value === undefined || value === null) return null;
  if (value instanceof Secret || Buffer.isBuffer(value) || value instanceof Uint8Array) return REDACTED;
  if (typeof value === 'string') {
    if (sensitive || value.startsWith(KMS_PREFIX)) return REDACTED;
    return value.replace(URL_USERINFO, `$1${REDACTED}@`);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return sensitive ? REDACTED : value;
  if (typeof value !== 'object') return REDACTED;
  if (value instanceof Map)
    return summarizeEntries(
      [...value.entries()].map(([k, v]) => [String(k), v]),
      sensitive,
    );
  if (Array.isArray(value)) {
    // The environment: [{name, value}] reads best as {NAME: value}, and the name decides sensitivity.
    if (value.length > 0 && value.every(isNamedValue))
      return summarizeEntries(
        value.map((entry) => [entry.name, entry.value]),
        sensitive,
      );
    return value.map((item) => summarize(item, sensitive));
  }
  const record = value as Record<string, unknown>;
  // A ConfigValue: {kind: 'encrypted'} is an aws:kms: ciphertext, {kind: 'plain'} a clear value.
  if (record.kind === 'encrypted') return REDACTED;
  if (record.kind === 'plain' && 'value' in record) return summarize(record.value, sensitive);
  return summarizeEntries(Object.entries(record), sensitive);
}

function summarizeEntries(entries: [string, unknown][], sensitive: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of entries) out[key] = summarize(value, sensitive || SENSITIVE_KEY.test(key));
  return out;
}

function isNamedValue(item: unknown): item is { name: string; value: unknown } {
  return (
    typeof item === 'object' &&
    item !== null &&
    typeof (item as { name?: unknown }).name === 'string' &&
    'value' in item &&
    Object.keys(item).length === 2
  );
}
