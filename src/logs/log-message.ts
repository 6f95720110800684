import type { Redactor } from '../core/redactor.js';

/**
 * CloudWatch Logs' event size limit: 1,048,576 bytes counting 26 bytes of overhead, so
 * 1,048,550 bytes of UTF-8 message. Longer lines are split into pieces of at most this size
 * (never truncated: the pieces arrive in order, as consecutive events with the same timestamp).
 */
export const MAX_MESSAGE_BYTES = 1_048_576 - 26;

/** What the original's Scalyr config masked in application and custom logs (taupage PR #548). */
export const JWT_REDACTED = '+++JWT_TOKEN_REDACTED+++';
const JWT_RE = /eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

export interface MessageOptions {
  readonly redactor: Redactor;
  /** Mask JWT-looking tokens (application and custom logs, as the original did). */
  readonly maskJwt: boolean;
  readonly maxBytes?: number;
}

/**
 * Turns one raw line into the messages that may leave the host: decoded as UTF-8 (invalid bytes
 * become U+FFFD, so every destination receives valid UTF-8), registered secrets scrubbed, JWTs
 * masked, and split so that no piece exceeds the event size limit.
 */
export function prepareMessages(line: Buffer | string, options: MessageOptions): string[] {
  let text = typeof line === 'string' ? line : line.toString('utf8');
  text = options.redactor.scrub(text);
  if (options.maskJwt && text.includes('eyJ')) text = text.replace(JWT_RE, JWT_REDACTED);
  return splitUtf8(text, options.maxBytes ?? MAX_MESSAGE_BYTES);
}

/** Splits `text` into pieces of at most `maxBytes` UTF-8 bytes, never inside a character. */
export function splitUtf8(text: string, maxBytes: number): string[] {
  // Fast path: a UTF-16 code unit is at most 3 UTF-8 bytes.
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes) return [text];
  const pieces: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < text.length;) {
    const code = text.codePointAt(i) ?? 0;
    const units = code > 0xffff ? 2 : 1;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) {
      pieces.push(text.slice(start, i));
      start = i;
      bytes = 0;
    }
    bytes += size;
    i += units;
  }
  pieces.push(text.slice(start));
  return pieces;
}
