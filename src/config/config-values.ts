import { KMS_PREFIX } from './taupage-config.js';

/** Helpers that read YAML values the same way for every key (one truthiness rule, one port rule). */

export type Read<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly expected: string };

export const TRUE_WORDS: readonly string[] = ['true', 'yes', 'on', '1'];
export const FALSE_WORDS: readonly string[] = ['false', 'no', 'off', '0'];
const TRUE_SET = new Set(TRUE_WORDS);
const FALSE_SET = new Set(FALSE_WORDS);

/**
 * The single truthiness rule. The original had three (Python truthiness, `= True` in shell,
 * `-n` in shell), so `"false"` meant true for some keys; here every boolean key reads the same:
 * true/false, yes/no, on/off, 1/0, in any case, as YAML booleans, numbers or strings.
 */
export function readBoolean(value: unknown): Read<boolean> {
  if (typeof value === 'boolean') return { ok: true, value };
  if (value === 0 || value === 1) return { ok: true, value: value === 1 };
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (TRUE_SET.has(word)) return { ok: true, value: true };
    if (FALSE_SET.has(word)) return { ok: true, value: false };
  }
  return { ok: false, expected: 'true or false' };
}

/** A port: a number, or a string of digits (`"8080"`), from 1 to 65535. */
export function readPort(value: unknown): Read<number> {
  const number = typeof value === 'string' && /^\s*\d{1,6}\s*$/.test(value) ? Number(value) : value;
  if (typeof number === 'number' && Number.isInteger(number) && number >= 1 && number <= 65535) {
    return { ok: true, value: number };
  }
  return { ok: false, expected: 'a port number from 1 to 65535' };
}

/** A whole number given as a number or a string of digits. */
export function readInteger(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value === 'string' && /^\s*[+-]?\d{1,15}\s*$/.test(value)) return Number(value);
  return undefined;
}

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$/i;
const SIZE_FACTORS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/**
 * A size in bytes: `1048576`, `512m`, `1G`, `4K`, `256MB`, `2GiB`. Units are binary (k = 1024),
 * as Docker, logrotate and rsyslog read them.
 */
export function readSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = SIZE.exec(value);
  if (match === null) return undefined;
  const bytes = Number(match[1]) * (SIZE_FACTORS[(match[2] ?? '').toLowerCase()] ?? 1);
  return Number.isSafeInteger(Math.round(bytes)) ? Math.round(bytes) : undefined;
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

export function isEncrypted(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(KMS_PREFIX);
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The ciphertext of a well-formed `aws:kms:<base64>` value, else undefined. Never calls KMS. */
export function readCiphertext(value: string): Buffer | undefined {
  const base64 = value.slice(KMS_PREFIX.length).trim();
  if (base64.length === 0 || base64.length % 4 !== 0 || !BASE64.test(base64)) return undefined;
  return Buffer.from(base64, 'base64');
}

const SENSITIVE_NAME = /pass|secret|private|token|credential|auth|api_?key|account_key|access_key|license/i;

/** Names whose values we never echo in messages, even when they are not encrypted. */
export function isSensitiveName(name: string): boolean {
  return SENSITIVE_NAME.test(name);
}

/** A value is sensitive when any key on its path looks like a secret's name. */
export function isSensitivePath(path: readonly (string | number)[]): boolean {
  return path.some((part) => typeof part === 'string' && isSensitiveName(part));
}

/** What a value was, for "expected X, found Y" — never the value itself when it may be secret. */
export function describeValue(value: unknown, sensitive = false): string {
  if (value === null || value === undefined) return 'nothing (null)';
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (value instanceof Date) return `a date (${value.toISOString().slice(0, 10)}; quote it to keep it text)`;
  if (isMapping(value)) return describeMapping(value);
  if (isEncrypted(value)) return 'an aws:kms: value';
  if (sensitive) return `a ${typeof value === 'string' ? 'text' : typeof value}`;
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return `a ${typeof value}`;
}

function describeMapping(value: Record<string, unknown>): string {
  const keys = Object.keys(value);
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0]?.startsWith('Fn::') === true))
    return `a CloudFormation function (${keys[0]}) that nothing rendered`;
  return 'a map';
}

/** Scalars become env strings the way people expect (true → "true", 1.5 → "1.5"). */
export function scalarToString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (value instanceof Date) return dateToString(value);
  return undefined;
}

/** `2024-01-31` stays a date; a timestamp becomes ISO 8601. */
export function dateToString(value: Date): string {
  const iso = value.toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
}
