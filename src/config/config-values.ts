import { KMS_PREFIX } from './taupage-config.js';

/** Helpers that read YAML values the same way for every key (one truthiness rule, one port rule). */

export type Read<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly expected: string };

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);

/**
 * The single truthiness rule. The original had three (Python truthiness, `= True` in shell,
 * `-n` in shell), so `"false"` meant true for some keys; here every boolean key reads the same.
 */
export function readBoolean(value: unknown): Read<boolean> {
  if (typeof value === 'boolean') return { ok: true, value };
  if (value === 0 || value === 1) return { ok: true, value: value === 1 };
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return { ok: true, value: true };
    if (FALSE_WORDS.has(word)) return { ok: true, value: false };
  }
  return { ok: false, expected: 'true or false' };
}

export function readPort(value: unknown): Read<number> {
  const number = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof number === 'number' && Number.isInteger(number) && number >= 1 && number <= 65535) {
    return { ok: true, value: number };
  }
  return { ok: false, expected: 'a port number from 1 to 65535' };
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** Senza placeholders (`{{Arguments.X}}`) are rendered before the instance sees them. */
export function isPlaceholder(value: unknown): boolean {
  return typeof value === 'string' && /\{\{[^{}]+\}\}/.test(value);
}

export function isEncrypted(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(KMS_PREFIX);
}

/** Names whose values we never echo in messages, even when they are not encrypted. */
export function isSensitiveName(name: string): boolean {
  return /pass|secret|private|token|credential|auth|api_?key|account_key/i.test(name);
}

/** What a value was, for "expected X, found Y" — never the value itself when it may be secret. */
export function describeValue(value: unknown, sensitive = false): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (value instanceof Date) return `a date (${value.toISOString().slice(0, 10)}; quote it to keep it text)`;
  if (isMapping(value)) return 'a map';
  if (isEncrypted(value)) return 'an aws:kms: value';
  if (sensitive) return `a ${typeof value}`;
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return `a ${typeof value}`;
}

/** Scalars become env strings the way people expect (true → "true", 1.5 → "1.5"). */
export function scalarToString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value instanceof Date) return value.toISOString();
  return undefined;
}
