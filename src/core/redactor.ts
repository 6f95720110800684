import { REDACTED } from './secret.js';

/**
 * Last line of defence: every decrypted value is registered here, and every line the agent
 * writes (logs, error output) passes through `scrub`, so a plaintext that slipped into a message
 * (a library error quoting its input, say) is replaced before it leaves the process.
 */
export class Redactor {
  readonly #needles = new Set<string>();
  #pattern: RegExp | undefined;
  #needleBytes: Buffer[] | undefined;

  /** Values shorter than this are not scrubbed: "1" or "true" would mangle every line. */
  static readonly MIN_LENGTH = 4;

  register(plaintext: string): void {
    if (plaintext.length < Redactor.MIN_LENGTH) return;
    this.#needles.add(plaintext);
    // The JSON-escaped form too: log lines are JSON, and a secret with a quote or backslash
    // appears escaped there.
    this.#needles.add(JSON.stringify(plaintext).slice(1, -1));
    this.#pattern = undefined;
    this.#needleBytes = undefined;
  }

  get size(): number {
    return this.#needles.size;
  }

  /**
   * Whether `bytes` (UTF-8) hold a registered value, as `scrub` would find it: a line without
   * one may leave as it is, without becoming a string first.
   */
  foundIn(bytes: Buffer): boolean {
    if (this.#needles.size === 0) return false;
    this.#needleBytes ??= [...this.#needles].map((needle) => Buffer.from(needle, 'utf8'));
    return this.#needleBytes.some((needle) => bytes.includes(needle));
  }

  scrub(text: string): string {
    if (this.#needles.size === 0) return text;
    this.#pattern ??= new RegExp(
      [...this.#needles]
        .sort((a, b) => b.length - a.length)
        .map((needle) => needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('|'),
      'g',
    );
    return text.replace(this.#pattern, REDACTED);
  }
}
