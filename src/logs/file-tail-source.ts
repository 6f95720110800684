import { basename, dirname, join } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { CheckpointValue, LineSink, LogSource } from './log-record.js';
import { LineAssembler } from './line-assembler.js';
import { nodeTailFileSystem } from './node-tail-file-system.js';
import type { TailFileHandle, TailFileStat, TailFileSystem } from './tail-file-system.js';

export interface FileTailSourceOptions {
  /** An absolute path; `*` and `?` may appear in the file name (e.g. /var/log-custom/*.log). */
  readonly pattern: string;
  /** Source name in records and routes; default: the pattern. */
  readonly name?: string;
  readonly log: Logger;
  /** Mask JWT-looking tokens (custom application logs, as the original did). */
  readonly maskJwt?: boolean;
  /**
   * With a pattern: each record names the file it came from (LogRecord.file; Scalyr's
   * per-file `logfile`). Off by default: such records take the spool's and CloudWatch's slower
   * record paths (bench/custom-logs), so only a source a destination needs it for pays.
   */
  readonly recordFile?: boolean;
  readonly fs?: TailFileSystem;
  readonly clock?: Clock;
  readonly pollIntervalMs?: number;
  /** How long a rotated-away file is still read (its writer may not have reopened yet). */
  readonly rotateWaitMs?: number;
}

// 250 ms: near-live logs for the price of one stat per file four times a second; a file grows
// by at most a few MB between polls even at the benchmark rate. 5 s of rotate-wait is Fluent
// Bit's default and covers rsyslog/logrotate's postrotate reload.
const DEFAULT_POLL_MS = 250;
const DEFAULT_ROTATE_WAIT_MS = 5_000;
const READ_BYTES = 256 * 1024;
// Rotated names logrotate gives a file once compressed: not text to ship.
const COMPRESSED = /\.(gz|bz2|xz|zst|lz4|lzma|lzo|z|zip)$/i;

interface Tail {
  readonly path: string;
  readonly handle: TailFileHandle;
  readonly dev: string;
  readonly ino: string;
  offset: number;
  /** The unfinished last line. */
  readonly partial: LineAssembler;
  /** false once rotated away: the path's checkpoint now belongs to the new file. */
  checkpointed: boolean;
  closeAt: number;
}

/** A file next to a tailed path, named like a rotated copy of it (`app.log.1`, `app.log-20240101`). */
interface Sibling {
  readonly path: string;
  readonly stat: TailFileStat;
}

interface FilePosition {
  readonly dev: string;
  readonly ino: string;
  readonly offset: number;
}

/**
 * Tails host files by polling: survives rename rotation (the old file is drained, then the new
 * one read from its start), copytruncate and truncation (size below our offset: start over),
 * and picks up files that appear later. Checkpoints are device + inode + offset per path, so a
 * restart resumes where it was, including in a file that was rotated away meanwhile.
 *
 * Rotations can come faster than the polls (a storm, two logrotate runs in a row): a file can be
 * created as the path and renamed away between two polls, never seen there. So each path
 * remembers which rotated-looking files were next to it at the last look (`known`); when the
 * path changes, the new ones are such files and are read from their start, oldest first.
 */
export class FileTailSource implements LogSource {
  readonly name: string;
  readonly maskJwt: boolean;
  readonly #options: FileTailSourceOptions;
  readonly #fs: TailFileSystem;
  readonly #clock: Clock;
  readonly #buffer = Buffer.allocUnsafe(READ_BYTES);
  /** The file names the pattern matches (`*` and `?`), or undefined for a plain path. */
  readonly #names: RegExp | undefined;

  constructor(options: FileTailSourceOptions) {
    this.name = options.name ?? options.pattern;
    this.maskJwt = options.maskJwt ?? false;
    this.#options = options;
    this.#fs = options.fs ?? nodeTailFileSystem;
    this.#clock = options.clock ?? systemClock;
    const name = basename(options.pattern);
    this.#names = /[*?]/.test(name)
      ? new RegExp(
          `^${name
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '.*')
            .replace(/\?/g, '.')}$`,
        )
      : undefined;
  }

  async run(sink: LineSink, signal: AbortSignal): Promise<void> {
    const live = new Map<string, Tail>();
    /** Per path: the keys (fileKey) of the rotated-looking files next to it at the last look. */
    const known = new Map<string, Set<string>>();
    let rotated: Tail[] = [];
    const { log } = this.#options;
    try {
      while (!signal.aborted) {
        try {
          for (const path of await this.#paths()) {
            if (live.has(path)) continue;
            // New: what is next to it now predates us. Back after a poll without it: what was
            // the path meanwhile is read (#readMissed).
            const following = known.has(path);
            if (!following) known.set(path, await this.#siblingKeys(path));
            const opened = await this.#openResumed(path, sink, rotated);
            if (opened) live.set(path, opened);
            if (following) await this.#readMissed(path, known, live, rotated, sink);
          }
          for (const tail of rotated) await this.#drain(tail, sink);
          const now = this.#clock.now();
          for (const tail of rotated.filter((t) => t.closeAt <= now)) await this.#close(tail, sink);
          rotated = rotated.filter((t) => t.closeAt > now);
          for (const [path, tail] of live) {
            await this.#drain(tail, sink, () => this.#rememberSiblings(path, tail, known));
            const current = await this.#fs.stat(path);
            if (current?.ino === tail.ino && current.dev === tail.dev) continue;
            // Renamed or deleted: keep reading the old file a while, read the new one from its start.
            log.info({ path, source: this.name }, 'Log file rotated');
            tail.checkpointed = false;
            tail.closeAt = this.#clock.now() + (this.#options.rotateWaitMs ?? DEFAULT_ROTATE_WAIT_MS);
            rotated.push(tail);
            live.delete(path);
            const fresh = current ? await this.#open(path, 0) : undefined;
            if (fresh) live.set(path, fresh);
            await this.#readMissed(path, known, live, rotated, sink);
            if (fresh) await this.#drain(fresh, sink);
          }
        } catch (error) {
          if (isAborted(signal)) break;
          log.warn({ err: error, source: this.name }, 'Failed to read a log file, retrying');
        }
        try {
          await this.#clock.sleep(this.#options.pollIntervalMs ?? DEFAULT_POLL_MS, signal);
        } catch {
          break;
        }
      }
    } finally {
      for (const tail of [...rotated, ...live.values()]) await tail.handle.close().catch(() => undefined);
    }
  }

  async #paths(): Promise<string[]> {
    const { pattern } = this.#options;
    const names = this.#names;
    if (!names) return [pattern];
    const dir = dirname(pattern);
    return (await this.#fs.list(dir))
      .filter((entry) => names.test(entry))
      .sort()
      .map((entry) => join(dir, entry));
  }

  /**
   * Reads the files renamed away from `path` that were never seen there: the rotated-looking
   * files next to it that were not there at the last look and are not being read. Called after
   * the path's new file was opened, so a file that was the path until then is in this look.
   */
  async #readMissed(
    path: string,
    known: Map<string, Set<string>>,
    live: Map<string, Tail>,
    rotated: Tail[],
    sink: LineSink,
  ): Promise<void> {
    const siblings = await this.#siblings(path);
    const before = known.get(path) ?? new Set();
    known.set(path, new Set(siblings.map((s) => fileKey(s.stat))));
    const reading = new Set([...live.values(), ...rotated].map((t) => `${t.dev}:${t.ino}`));
    const missed = siblings
      .filter((s) => !before.has(fileKey(s.stat)) && !reading.has(`${s.stat.dev}:${s.stat.ino}`))
      .sort(byBirth);
    for (const sibling of missed) {
      const tail = await this.#open(sibling.path, 0);
      if (!tail) continue;
      this.#options.log.info(
        { path, rotatedTo: sibling.path, source: this.name },
        'Reading a log file that was rotated away between two polls',
      );
      tail.checkpointed = false;
      tail.closeAt = this.#clock.now() + (this.#options.rotateWaitMs ?? DEFAULT_ROTATE_WAIT_MS);
      rotated.push(tail);
      await this.#drain(tail, sink);
    }
  }

  /**
   * After copytruncate: its copy is a new file next to the path but holds lines already read.
   * Remembered before the lines after the truncation are read, and only if the path was not
   * rotated meanwhile (else the look could hold a file that was the path for a moment).
   */
  async #rememberSiblings(path: string, tail: Tail, known: Map<string, Set<string>>): Promise<void> {
    const siblings = await this.#siblingKeys(path);
    const current = await this.#fs.stat(path);
    if (current?.ino !== tail.ino || current.dev !== tail.dev) return;
    known.set(path, siblings);
  }

  async #siblingKeys(path: string): Promise<Set<string>> {
    return new Set((await this.#siblings(path)).map((s) => fileKey(s.stat)));
  }

  async #siblings(path: string): Promise<Sibling[]> {
    const dir = dirname(path);
    const name = basename(path);
    const siblings: Sibling[] = [];
    for (const entry of await this.#fs.list(dir)) {
      // A rotated name the pattern matches is tailed as a path of its own.
      if (!isRotatedName(name, entry) || this.#names?.test(entry)) continue;
      const stat = await this.#fs.stat(join(dir, entry));
      if (stat) siblings.push({ path: join(dir, entry), stat });
    }
    return siblings;
  }

  async #open(path: string, offset: number): Promise<Tail | undefined> {
    const handle = await this.#fs.open(path);
    if (!handle) return undefined;
    const { dev, ino } = await handle.stat();
    return {
      path,
      handle,
      dev,
      ino,
      offset,
      partial: new LineAssembler(),
      checkpointed: true,
      closeAt: Infinity,
    };
  }

  /** Opens `path` where its checkpoint says; drains a file rotated away while we were down. */
  async #openResumed(path: string, sink: LineSink, rotated: Tail[]): Promise<Tail | undefined> {
    const saved = parsePosition(sink.checkpoint(checkpointKey(path)));
    const tail = await this.#open(path, 0);
    if (!tail || !saved) return tail;
    // A path missing for a poll between logrotate's rename and its create comes back as a new
    // file while its checkpoint still names the old one. If that one is still being read as a
    // rotated tail, draining it again here would ship its lines twice.
    if (rotated.some((t) => t.dev === saved.dev && t.ino === saved.ino)) return tail;
    if (saved.dev === tail.dev && saved.ino === tail.ino) {
      const { size } = await tail.handle.stat();
      tail.offset = saved.offset <= size ? saved.offset : 0;
      return tail;
    }
    const dir = dirname(path);
    for (const entry of await this.#fs.list(dir)) {
      const candidate = join(dir, entry);
      const info = await this.#fs.stat(candidate);
      if (info?.dev !== saved.dev || info.ino !== saved.ino || info.size < saved.offset) continue;
      const old = await this.#open(candidate, saved.offset);
      if (old?.ino === saved.ino) {
        this.#options.log.info({ path, rotatedTo: candidate }, 'Resuming a log file rotated while stopped');
        // Drain it before the new file, so its lines come first; then close it.
        old.checkpointed = false;
        await this.#drain(old, sink);
        old.closeAt = this.#clock.now();
        rotated.push(old);
      }
      break;
    }
    return tail;
  }

  async #drain(tail: Tail, sink: LineSink, onTruncated?: () => Promise<void>): Promise<void> {
    const { size } = await tail.handle.stat();
    if (size < tail.offset) {
      // Truncated in place (copytruncate, `> file`): what was before is gone; start over.
      this.#options.log.info(
        { path: tail.path, source: this.name },
        'Log file truncated, reading from its start',
      );
      await this.#emitPartial(tail, sink);
      tail.offset = 0;
      await onTruncated?.();
    }
    while (tail.offset < size) {
      const read = await tail.handle.read(this.#buffer, tail.offset);
      if (read === 0) break;
      await this.#lines(tail, this.#buffer.subarray(0, read), sink);
    }
  }

  async #lines(tail: Tail, chunk: Buffer, sink: LineSink): Promise<void> {
    const base = tail.offset;
    let start = 0;
    for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
      let line = tail.partial.finish(chunk.subarray(start, end));
      if (line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
      start = end + 1;
      tail.offset = base + start;
      if (!sink.writeLine(line, this.#clock.now(), this.#checkpoint(tail), this.#file(tail)))
        await sink.drained();
    }
    if (start < chunk.length) {
      tail.offset = base + chunk.length;
      // A line longer than an event: ship each event-sized piece as soon as it is complete.
      for (const piece of tail.partial.push(chunk.subarray(start))) {
        if (!sink.writeLine(piece, this.#clock.now(), this.#checkpoint(tail), this.#file(tail)))
          await sink.drained();
      }
    }
  }

  async #emitPartial(tail: Tail, sink: LineSink): Promise<void> {
    if (tail.partial.bytes === 0) return;
    const line = tail.partial.finish();
    if (!sink.writeLine(line, this.#clock.now(), this.#checkpoint(tail), this.#file(tail)))
      await sink.drained();
  }

  async #close(tail: Tail, sink: LineSink): Promise<void> {
    await this.#emitPartial(tail, sink);
    await tail.handle.close();
  }

  /** The file a line came from, for a pattern (several files); undefined for a plain path. */
  #file(tail: Tail): string | undefined {
    return this.#names === undefined || this.#options.recordFile !== true ? undefined : tail.path;
  }

  #checkpoint(tail: Tail): { key: string; value: CheckpointValue } | undefined {
    if (!tail.checkpointed) return undefined;
    // Offset after the last whole line handed over (a partial line is read again after a restart).
    const offset = tail.offset - tail.partial.bytes;
    return { key: checkpointKey(tail.path), value: { dev: tail.dev, ino: tail.ino, offset } };
  }
}

/** Names one file, also after its inode number was freed and reused (when the birth time is known). */
function fileKey(stat: TailFileStat): string {
  return `${stat.dev}:${stat.ino}:${stat.born ?? ''}`;
}

/** `app.log.1`, `app.log-20240101`, `app.log_old` for `app.log`; not compressed ones. */
function isRotatedName(name: string, entry: string): boolean {
  return (
    entry.length > name.length + 1 &&
    entry.startsWith(name) &&
    '.-_'.includes(entry.charAt(name.length)) &&
    !COMPRESSED.test(entry)
  );
}

/** Oldest first (by birth time, where known; then by name). */
function byBirth(a: Sibling, b: Sibling): number {
  const born = BigInt(a.stat.born ?? 0) - BigInt(b.stat.born ?? 0);
  return born < 0n ? -1 : born > 0n ? 1 : a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

function checkpointKey(path: string): string {
  return `file:${path}`;
}

function parsePosition(value: CheckpointValue | undefined): FilePosition | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { dev, ino, offset } = value;
  if (typeof dev !== 'string' || typeof ino !== 'string' || typeof offset !== 'number') return undefined;
  return { dev, ino, offset };
}

/** A function, so that TypeScript does not narrow `aborted` across awaits. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}
