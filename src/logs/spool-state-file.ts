import { open, readFile, rename } from 'node:fs/promises';
import type { CheckpointValue } from './log-record.js';

/** A destination's place in the spool: segment number and byte offset in it. */
export interface SpoolPosition {
  readonly segment: number;
  readonly offset: number;
}

interface StateDocument {
  readonly version: 1;
  /** Counts the writes: of two copies, the one with the higher number is the newer. */
  readonly seq: number;
  readonly sources: Record<string, CheckpointValue>;
  readonly consumers: Record<string, SpoolPosition>;
}

export interface SpoolStateFileOptions {
  /** At most this long between two writes that are fsync'd (the others are not); default 1 s. */
  readonly durableIntervalMs?: number;
  readonly now?: () => number;
}

/** Default for `durableIntervalMs`. */
export const DURABLE_STATE_INTERVAL_MS = 1000;

/**
 * The pipeline's persistent state: source checkpoints (advanced once their records are fsync'd
 * in the spool) and each destination's spool cursor (advanced once that destination
 * acknowledged). Every value it holds is true when written, so whichever copy survives a crash
 * can only be behind (duplicates), never ahead (loss).
 *
 * Two copies, each written whole to a temp file and renamed over (a crash of the process leaves
 * the old or the new copy, never half of one): `<path>` is fsync'd before the rename; `<path>`
 * with `.unsynced` appended is not, and is the one written when `<path>` was fsync'd less than
 * `durableIntervalMs` ago (a timer then writes `<path>` once the interval is over). A kill -9
 * loses nothing of either (the page cache survives the process). A power loss can leave the
 * unsynced copy old, empty or cut short: one that does not parse is ignored and the fsync'd
 * copy (at most about `durableIntervalMs` older) is used. `load` takes the newer copy (`seq`).
 * Concurrent saves coalesce into one write.
 */
export class SpoolStateFile {
  readonly sources = new Map<string, CheckpointValue>();
  readonly consumers = new Map<string, SpoolPosition>();
  readonly #path: string;
  readonly #durableIntervalMs: number;
  readonly #now: () => number;
  #writing: Promise<void> | undefined;
  #dirty = false;
  #seq = 0;
  #durableAt = Number.NEGATIVE_INFINITY;
  /** The unsynced copy holds a write the fsync'd one does not. */
  #unsyncedAhead = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(path: string, options: SpoolStateFileOptions = {}) {
    this.#path = path;
    this.#durableIntervalMs = options.durableIntervalMs ?? DURABLE_STATE_INTERVAL_MS;
    this.#now = options.now ?? Date.now;
  }

  get unsyncedPath(): string {
    return `${this.#path}.unsynced`;
  }

  async load(): Promise<void> {
    const durable = await readDocument(this.#path);
    const unsynced = await readDocument(this.unsyncedPath);
    const doc = unsynced !== undefined && unsynced.seq > (durable?.seq ?? -1) ? unsynced : durable;
    if (doc === undefined) return;
    this.#seq = doc.seq;
    for (const [key, value] of Object.entries(doc.sources)) this.sources.set(key, value);
    for (const [key, value] of Object.entries(doc.consumers)) this.consumers.set(key, value);
  }

  /**
   * Resolves once a write that includes every change made before the call is in a copy that
   * survives the process (fsync'd at most `durableIntervalMs` later).
   */
  async save(): Promise<void> {
    this.#dirty = true;
    while (this.#dirty) {
      if (this.#writing) {
        await this.#writing;
        continue;
      }
      this.#dirty = false;
      this.#writing = this.#write(this.#now() - this.#durableAt >= this.#durableIntervalMs).finally(() => {
        this.#writing = undefined;
      });
      await this.#writing;
    }
  }

  /** Writes the fsync'd copy now if the last write was not (a clean stop). */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#writing) await this.#writing;
    if (this.#unsyncedAhead) await this.#write(true);
  }

  async #write(durable: boolean): Promise<void> {
    const doc: StateDocument = {
      version: 1,
      seq: ++this.#seq,
      sources: Object.fromEntries(this.sources),
      consumers: Object.fromEntries(this.consumers),
    };
    const path = durable ? this.#path : this.unsyncedPath;
    const temp = `${path}.tmp`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(doc));
      if (durable) await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    this.#unsyncedAhead = !durable;
    if (durable) {
      this.#durableAt = this.#now();
      clearTimeout(this.#timer);
      this.#timer = undefined;
    } else if (this.#timer === undefined) {
      // What only the unsynced copy holds is fsync'd once the interval is over.
      this.#timer = setTimeout(
        () => {
          this.#timer = undefined;
          this.#durableAt = Number.NEGATIVE_INFINITY;
          this.save().catch(() => undefined);
        },
        Math.max(0, this.#durableAt + this.#durableIntervalMs - this.#now()),
      );
      this.#timer.unref();
    }
  }
}

/** The document at `path`; undefined when missing or not a whole, valid one. */
async function readDocument(path: string): Promise<StateDocument | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  // A copy we cannot parse (cut short or zeroed by a power loss) is treated as absent: with no
  // copy at all, sources start over and consumers at the first segment (duplicates), the
  // at-least-once side of the trade.
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const doc = parsed as Partial<StateDocument>;
  return {
    version: 1,
    seq: typeof doc.seq === 'number' ? doc.seq : 0,
    sources: doc.sources ?? {},
    consumers: doc.consumers ?? {},
  };
}
