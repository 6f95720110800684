import { MAX_MESSAGE_BYTES } from './log-message.js';

/**
 * Joins the pieces of one long line (Docker's 16 KiB partial entries, a file read in chunks)
 * and hands out event-sized pieces as soon as they are complete, so memory stays bounded by one
 * event per stream however long the line. Cuts fall on UTF-8 character boundaries.
 */
export class LineAssembler {
  readonly #maxBytes: number;
  #parts: Buffer[] = [];
  #bytes = 0;

  constructor(maxBytes = MAX_MESSAGE_BYTES) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes held (of a line not finished yet). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds a piece of an unfinished line (copied); returns the full-size pieces now ready. */
  push(piece: Buffer): Buffer[] {
    this.#parts.push(Buffer.from(piece));
    this.#bytes += piece.length;
    const ready: Buffer[] = [];
    while (this.#bytes >= this.#maxBytes) {
      const all = Buffer.concat(this.#parts);
      const cut = utf8Boundary(all, this.#maxBytes);
      ready.push(all.subarray(0, cut));
      const rest = all.subarray(cut);
      this.#parts = rest.length > 0 ? [rest] : [];
      this.#bytes = rest.length;
    }
    return ready;
  }

  /** Ends the line with `last` and returns it (whatever was held, then `last`). */
  finish(last: Buffer = Buffer.alloc(0)): Buffer {
    if (this.#bytes === 0) return last;
    const line = Buffer.concat([...this.#parts, last]);
    this.#parts = [];
    this.#bytes = 0;
    return line;
  }
}

/** The largest cut ≤ max that does not fall inside a UTF-8 sequence. */
export function utf8Boundary(buffer: Buffer, max: number): number {
  if (buffer.length <= max) return buffer.length;
  let cut = max;
  // Back off continuation bytes (10xxxxxx), at most 3: an invalid run is cut anywhere.
  for (let i = 0; i < 3 && cut > 0 && ((buffer[cut] ?? 0) & 0xc0) === 0x80; i++) cut--;
  return cut;
}
