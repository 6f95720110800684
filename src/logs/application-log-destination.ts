import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { firstLine, TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DeliveryResult, LogDestination } from './log-destination.js';
import type { LogRecord } from './log-record.js';
import { rotateFile, rotationDue, type RotationPolicy } from './log-rotation.js';
import { copyBytes, type RecordBatch } from './spool-records.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The render buffer kept between deliveries is at most this big (a larger one is made when needed). */
const MAX_KEPT_BYTES = 8 * 1024 * 1024;
/**
 * A delivery is rendered and appended in pieces of about this size (one fdatasync after the
 * last): a 1 MiB read of spool lines is ~2 MiB of syslog lines, and a render buffer that big was
 * ~2 MiB of the agent's peak RSS under a burst (bench/logs). A piece ends after the line that
 * reaches it, so the buffer grows past it only for a longer line.
 */
const PIECE_BYTES = 256 * 1024;

/** rsyslog's traditional file timestamp (RFC 3164): `May  1 11:06:04`, in UTC (the AMI's zone). */
export function syslogTimestamp(time: number): string {
  const date = new Date(time);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${MONTHS[date.getUTCMonth()] ?? '???'} ${String(date.getUTCDate()).padStart(2, ' ')} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}`;
}

export interface ApplicationLogOptions {
  /** The file (`--application-log`, /var/log/application.log on the AMI). */
  readonly path: string;
  /** The source whose records are written (the app container's output). */
  readonly source: string;
  /** Short host name, as rsyslog wrote it (`ip-172-31-160-20`). */
  readonly hostname: string;
  /** The app container's id now (its first 12 characters go into the tag); undefined: not known yet. */
  readonly containerId: () => string | undefined;
  /**
   * The `[pid]` of the tag: dockerd's, as Docker's syslog driver wrote its own pid into every
   * line (`dockerdPid`). Asked again whenever the container id changes (dockerd restarted, the
   * app with it), so it is read once per container, not per line.
   */
  readonly pid: () => Promise<number>;
  readonly rotation: RotationPolicy;
  readonly now: () => number;
  readonly log: Logger;
}

/** dockerd's pid from its pidfile (`/var/run/docker.pid` on the AMI); `fallback` if unreadable. */
export async function dockerdPid(pidFile: string, fallback: number): Promise<number> {
  const text = await readFile(pidFile, 'utf8').catch(() => '');
  const pid = /^\s*(\d+)\s*$/.exec(text)?.[1];
  return pid === undefined ? fallback : Number(pid);
}

/**
 * `/var/log/application.log` as the original's rsyslog wrote it from Docker's syslog driver:
 * `May 21 11:06:04 ip-172-31-160-20 docker/800488d94562[781]: <line>`, rotated by the agent
 * itself per `application_logrotate_*` (checked before each write: no logrotate config, no
 * cron, no raw user strings in a file). A delivery is acknowledged once the lines are fsync'd.
 */
export class ApplicationLogDestination implements LogDestination {
  readonly name = 'application-log';
  readonly #options: ApplicationLogOptions;
  #handle: FileHandle | undefined;
  /** When the open file was started (its birth time, else when it was opened). */
  #startedAt = 0;
  #size = 0;
  #out = Buffer.allocUnsafe(0);
  /** The tag for the container it was made for. */
  #tag: { readonly containerId: string | undefined; readonly text: string } | undefined;

  constructor(options: ApplicationLogOptions) {
    this.#options = options;
  }

  async deliver(batch: RecordBatch): Promise<DeliveryResult> {
    const containerId = this.#options.containerId();
    let tag = this.#tag;
    if (tag === undefined || tag.containerId !== containerId) {
      const pid = await this.#options.pid();
      tag = { containerId, text: `docker/${(containerId ?? 'taupageapp').slice(0, 12)}[${String(pid)}]:` };
      this.#tag = tag;
    }
    let piece = this.#render(batch, tag.text, 0);
    if (piece.bytes.length === 0 && piece.next < 0) return { rejected: 0 };
    try {
      const handle = await this.#open();
      for (;;) {
        await handle.appendFile(piece.bytes);
        this.#size += piece.bytes.length;
        if (piece.next < 0) break;
        piece = this.#render(batch, tag.text, piece.next);
      }
      await handle.datasync();
    } catch (error) {
      await this.#close();
      throw new TaupageError(
        'LOG_SHIP_FAILED',
        `${this.#options.path}: ${error instanceof Error ? firstLine(error.message) : String(error)}`,
        { cause: error, retriable: true },
      );
    }
    return { rejected: 0 };
  }

  async close(): Promise<void> {
    await this.#close();
  }

  /**
   * The batch's lines of the app's source as syslog lines, from `from` (a record's index, or the
   * byte offset of a spool line) until about PIECE_BYTES are rendered; `next` is where the next
   * piece starts, -1 after the last. The bytes are valid until the next render. From the spool's lines
   * (`[timestamp,"source","message"]`) a message without JSON escapes is copied as bytes, with
   * no object per line: at a burst's 150,000+ lines a second, three small Buffers a line (prefix,
   * body view, newline) grew the agent's heap by about 100 MiB (the kill -9 burst e2e test).
   */
  #render(batch: RecordBatch, tag: string, from: number): { bytes: Buffer; next: number } {
    const { hostname, source } = this.#options;
    // One buffer kept from delivery to delivery (written and fsync'd before the next render):
    // a new one each time, grown by doubling, was most of the agent's external memory.
    let out = this.#out;
    let length = 0;
    const reserve = (extra: number): void => {
      if (length + extra <= out.length) return;
      const grown = Buffer.allocUnsafe(Math.max(length + extra, out.length * 2, 64 * 1024));
      out.copy(grown, 0, 0, length);
      out = grown;
      if (grown.length <= MAX_KEPT_BYTES) this.#out = grown;
    };
    // Enough for a piece of lines at once: a message is never longer than its spool line.
    const prefixBytes = Buffer.byteLength(`${syslogTimestamp(0)} ${hostname} ${tag} `);
    if (batch.encoded !== undefined)
      reserve(Math.min(PIECE_BYTES * 2, batch.encoded.length + batch.length * (prefixBytes + 1)));
    // The syslog time has whole seconds: one prefix per second, not per line.
    let stampSecond = Number.NaN;
    let prefix = Buffer.alloc(0);
    const start = (timestamp: number, bodyBytes: number): void => {
      const second = Math.floor(timestamp / 1000);
      if (second !== stampSecond) {
        stampSecond = second;
        prefix = Buffer.from(`${syslogTimestamp(timestamp)} ${hostname} ${tag} `);
      }
      reserve(prefix.length + bodyBytes + 1);
      length = copyBytes(prefix, 0, prefix.length, out, length);
    };
    const text = (timestamp: number, message: string): void => {
      start(timestamp, Buffer.byteLength(message));
      length += out.write(message, length);
      out[length++] = 0x0a;
    };
    if (batch.encoded === undefined) {
      const records = batch.records;
      for (let n = from; n < records.length; n++) {
        const record = records[n] as LogRecord;
        if (record.source === source) text(record.timestamp, record.message);
        if (length >= PIECE_BYTES && n + 1 < records.length)
          return { bytes: out.subarray(0, length), next: n + 1 };
      }
      return { bytes: out.subarray(0, length), next: -1 };
    }
    // Spool lines are `[timestamp,"source","message"]\n` (spool-records.ts). One pass over each
    // in JavaScript: its digits are the time, its source is compared byte by byte, and a message
    // without a backslash (no JSON escape) is copied as it is. No string or Buffer per line.
    const encoded = batch.encoded;
    const sourceJson = Buffer.from(JSON.stringify(source));
    let at = from;
    while (at < encoded.length) {
      if (length >= PIECE_BYTES) return { bytes: out.subarray(0, length), next: at };
      let i = at + 1;
      let timestamp = 0;
      for (let c = encoded[i] as number; c >= 0x30 && c <= 0x39; c = encoded[++i] as number)
        timestamp = timestamp * 10 + (c - 0x30);
      let ours = encoded[at] === 0x5b && i > at + 1 && encoded[i] === 0x2c;
      for (let k = 0; ours && k < sourceJson.length; k++) ours = encoded[i + 1 + k] === sourceJson[k];
      const bodyStart = i + 1 + sourceJson.length + 2; // after `,"`
      ours &&= encoded[bodyStart - 2] === 0x2c && encoded[bodyStart - 1] === 0x22;
      let end = ours ? bodyStart : i;
      let escaped = false;
      for (let c = encoded[end]; c !== undefined && c !== 0x0a; c = encoded[++end])
        if (c === 0x5c) escaped = true;
      if (ours) {
        const bodyEnd = end - 2; // without `"]`
        if (escaped) {
          const [, , message] = JSON.parse(encoded.toString('utf8', at, end)) as [number, string, string];
          text(timestamp, message);
        } else {
          start(timestamp, bodyEnd - bodyStart);
          length = copyBytes(encoded, bodyStart, bodyEnd, out, length);
          out[length++] = 0x0a;
        }
      }
      at = end + 1;
    }
    return { bytes: out.subarray(0, length), next: -1 };
  }

  /** The open file, rotated first when due; reopened when someone else moved it. */
  async #open(): Promise<FileHandle> {
    const { path, rotation, now } = this.#options;
    if (this.#handle === undefined) {
      await mkdir(dirname(path), { recursive: true });
      this.#handle = await open(path, 'a', 0o640);
      const info = await this.#handle.stat();
      this.#size = info.size;
      this.#startedAt = info.size === 0 || info.birthtimeMs === 0 ? now() : info.birthtimeMs;
    }
    if (rotationDue(rotation, this.#size, this.#startedAt, now())) {
      await this.#close();
      await rotateFile(path, rotation);
      this.#options.log.info({ path, size: this.#size }, 'Rotated the application log');
      this.#handle = await open(path, 'a', 0o640);
      this.#size = 0;
      this.#startedAt = now();
    }
    return this.#handle;
  }

  async #close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close().catch(() => undefined);
  }
}
