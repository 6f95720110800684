import { gzipSync } from 'node:zlib';
import type { LogRecord } from './log-record.js';
import type { SpoolPosition } from './spool-state-file.js';
import { comparePositions } from './spool-segment-files.js';

/** One source's route to S3: the `<source>` part of the key, and lines to leave out. */
export interface S3LogRoute {
  readonly label: string;
  /** `applog_filter_exclude`/`customlog_filter_exclude`: matching lines are not shipped. */
  readonly exclude?: RegExp | undefined;
}

export interface S3ObjectNaming {
  /** First part of every key (the original's fluentd used `taupage`). */
  readonly prefix: string;
  readonly applicationId: string;
  readonly applicationVersion: string;
  readonly instanceId: string;
}

/** A unit ready to upload: its key and gzip body never change, so a retry is idempotent. */
export interface SealedChunk {
  readonly key: string;
  readonly body: Buffer;
  readonly records: number;
  readonly from: SpoolPosition;
}

export interface S3LogChunksOptions {
  readonly naming: S3ObjectNaming;
  readonly routes: Readonly<Record<string, S3LogRoute>>;
  /** `s3_timekey` in ms: records are grouped by the window of their timestamp. */
  readonly timekeyMs: number;
  /** `s3_raw_log_format`: raw lines (true) or one JSON object per line (false). */
  readonly raw: boolean;
  /** A chunk is due at once when it holds this many bytes of text (roll by size). */
  readonly chunkBytes: number;
  /** Every chunk is due at once when all of them together hold this many bytes of text. */
  readonly maxHeldBytes: number;
  /** Milliseconds since the epoch: makes `<seq>` increase across restarts. */
  readonly now: () => number;
}

// Text is gzipped in members of this size as it comes in, so a held chunk costs its compressed
// size in memory (a gzip file may hold several members; gunzip and zlib read them as one).
const MEMBER_BYTES = 256 * 1024;

interface OpenChunk {
  readonly label: string;
  readonly windowStart: number;
  readonly from: SpoolPosition;
  readonly members: Buffer[];
  pending: string[];
  pendingBytes: number;
  textBytes: number;
  records: number;
}

/** fluentd's duration syntax of `s3_timekey`: `300`, `30s`, `5m`, `1h`, `1d` → milliseconds. */
export function parseTimekey(text: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[match?.[2] ?? ''];
  const seconds = Number(match?.[1]) * (unit ?? Number.NaN);
  if (!Number.isSafeInteger(seconds) || seconds < 1) {
    throw new Error(`expected a duration such as 5m or 1h, found "${text}"`);
  }
  return seconds * 1000;
}

/** `<prefix>/<app_id>/<version>/<source>/YYYY/MM/DD/HH/<instance-id>-<seq>.gz` (UTC). */
export function s3LogObjectKey(
  naming: S3ObjectNaming,
  label: string,
  windowStart: number,
  seq: number,
): string {
  const hour = new Date(windowStart).toISOString().slice(0, 13).replace(/[-T]/g, '/');
  return [
    naming.prefix,
    naming.applicationId,
    naming.applicationVersion,
    label,
    hour,
    `${naming.instanceId}-${String(seq)}.gz`,
  ].join('/');
}

/**
 * The S3 destination's buffer, without I/O: records grouped per source and `s3_timekey`
 * window (fluentd's timekey chunks), gzipped as they come, due when the window has ended or the
 * chunk is full. Remembers where in the spool each chunk's first record came from.
 */
export class S3LogChunks {
  readonly #options: S3LogChunksOptions;
  readonly #open = new Map<string, OpenChunk>();
  #heldBytes = 0;
  #lastSeq = 0;

  constructor(options: S3LogChunksOptions) {
    this.#options = options;
  }

  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Adds the routed records (lines matching the route's `exclude` are left out). */
  hold(records: readonly LogRecord[], from: SpoolPosition): void {
    const { routes, timekeyMs, raw, chunkBytes } = this.#options;
    for (const record of records) {
      const route = routes[record.source];
      if (route === undefined || route.exclude?.test(record.message) === true) continue;
      const windowStart = record.timestamp - (record.timestamp % timekeyMs);
      const id = `${route.label}\u0000${String(windowStart)}`;
      let chunk = this.#open.get(id);
      if (chunk === undefined) {
        chunk = {
          label: route.label,
          windowStart,
          from,
          members: [],
          pending: [],
          pendingBytes: 0,
          textBytes: 0,
          records: 0,
        };
        this.#open.set(id, chunk);
      }
      const line = raw
        ? `${record.message}\n`
        : `${JSON.stringify({ time: new Date(record.timestamp).toISOString(), source: route.label, message: record.message })}\n`;
      chunk.pending.push(line);
      chunk.pendingBytes += line.length;
      chunk.textBytes += line.length;
      chunk.records++;
      this.#heldBytes += line.length;
      if (chunk.pendingBytes >= MEMBER_BYTES || chunk.textBytes >= chunkBytes) compressPending(chunk);
    }
  }

  /** When the next chunk is due; undefined when nothing is held. */
  dueAt(): number | undefined {
    if (this.#open.size === 0) return undefined;
    if (this.#heldBytes >= this.#options.maxHeldBytes) return 0;
    let due = Number.POSITIVE_INFINITY;
    for (const chunk of this.#open.values()) due = Math.min(due, this.#dueAt(chunk));
    return due;
  }

  /** Closes the chunks that are due (all with `all`) into named gzip objects. */
  sealDue(all: boolean, now: number): SealedChunk[] {
    const everything = all || this.#heldBytes >= this.#options.maxHeldBytes;
    const sealed: SealedChunk[] = [];
    for (const [id, chunk] of this.#open) {
      if (!everything && this.#dueAt(chunk) > now) continue;
      this.#open.delete(id);
      this.#heldBytes -= chunk.textBytes;
      compressPending(chunk);
      this.#lastSeq = Math.max(this.#lastSeq + 1, this.#options.now());
      sealed.push({
        key: s3LogObjectKey(this.#options.naming, chunk.label, chunk.windowStart, this.#lastSeq),
        body: Buffer.concat(chunk.members),
        records: chunk.records,
        from: chunk.from,
      });
    }
    return sealed;
  }

  /** The spool position of the oldest open chunk's first record. */
  heldFrom(): SpoolPosition | undefined {
    let oldest: SpoolPosition | undefined;
    for (const chunk of this.#open.values())
      if (oldest === undefined || comparePositions(chunk.from, oldest) < 0) oldest = chunk.from;
    return oldest;
  }

  #dueAt(chunk: OpenChunk): number {
    return chunk.textBytes >= this.#options.chunkBytes ? 0 : chunk.windowStart + this.#options.timekeyMs;
  }
}

function compressPending(chunk: OpenChunk): void {
  if (chunk.pending.length === 0) return;
  chunk.members.push(gzipSync(chunk.pending.join('')));
  chunk.pending = [];
  chunk.pendingBytes = 0;
}
