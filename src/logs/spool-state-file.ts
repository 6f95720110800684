import { open, readFile, rename } from 'node:fs/promises';
import type { CheckpointValue } from './log-record.js';

/** A destination's place in the spool: segment number and byte offset in it. */
export interface SpoolPosition {
  readonly segment: number;
  readonly offset: number;
}

interface StateDocument {
  readonly version: 1;
  readonly sources: Record<string, CheckpointValue>;
  readonly consumers: Record<string, SpoolPosition>;
}

/**
 * The pipeline's persistent state in one small JSON file: source checkpoints (advanced once their
 * records are fsync'd in the spool) and each destination's spool cursor (advanced once that
 * destination acknowledged). Written atomically (temp file, fsync, rename) so a crash leaves the
 * old or the new state, never half of one. Concurrent saves coalesce into one write.
 */
export class SpoolStateFile {
  readonly sources = new Map<string, CheckpointValue>();
  readonly consumers = new Map<string, SpoolPosition>();
  readonly #path: string;
  #writing: Promise<void> | undefined;
  #dirty = false;

  constructor(path: string) {
    this.#path = path;
  }

  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    // A state file we cannot parse is treated as absent: sources start over (duplicates), which
    // is the at-least-once side of the trade.
    let doc: Partial<StateDocument>;
    try {
      doc = JSON.parse(text) as Partial<StateDocument>;
    } catch {
      return;
    }
    for (const [key, value] of Object.entries(doc.sources ?? {})) this.sources.set(key, value);
    for (const [key, value] of Object.entries(doc.consumers ?? {})) this.consumers.set(key, value);
  }

  /** Resolves once a write that includes every change made before the call is on disk. */
  async save(): Promise<void> {
    this.#dirty = true;
    while (this.#dirty) {
      if (this.#writing) {
        await this.#writing;
        continue;
      }
      this.#dirty = false;
      this.#writing = this.#write().finally(() => {
        this.#writing = undefined;
      });
      await this.#writing;
    }
  }

  async #write(): Promise<void> {
    const doc: StateDocument = {
      version: 1,
      sources: Object.fromEntries(this.sources),
      consumers: Object.fromEntries(this.consumers),
    };
    const temp = `${this.#path}.tmp`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(doc));
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.#path);
  }
}
