import { inspect } from 'node:util';

export const REDACTED = '[redacted]';

/**
 * A decrypted value. It only leaves the wrapper through `reveal()`, which the container spec
 * builder calls at the last moment; printing, logging or serialising it shows `[redacted]`.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
