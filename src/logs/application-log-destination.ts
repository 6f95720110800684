import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { firstLine, TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DeliveryResult, LogDestination } from './log-destination.js';
import { rotateFile, rotationDue, type RotationPolicy } from './log-rotation.js';
import type { RecordBatch } from './spool-records.js';

const NEWLINE = Buffer.from('\n');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

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
  /** The `[pid]` of the tag: the writing process (the original's was dockerd's). */
  readonly pid: number;
  readonly rotation: RotationPolicy;
  readonly now: () => number;
  readonly log: Logger;
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

  constructor(options: ApplicationLogOptions) {
    this.#options = options;
  }

  async deliver(batch: RecordBatch): Promise<DeliveryResult> {
    const { hostname, pid } = this.#options;
    const tag = `docker/${(this.#options.containerId() ?? 'taupageapp').slice(0, 12)}[${pid}]:`;
    const parts: Buffer[] = [];
    let stamp = { time: Number.NaN, prefix: Buffer.alloc(0) };
    const line = (timestamp: number, message: Buffer | string): void => {
      if (timestamp !== stamp.time)
        stamp = { time: timestamp, prefix: Buffer.from(`${syslogTimestamp(timestamp)} ${hostname} ${tag} `) };
      parts.push(stamp.prefix, typeof message === 'string' ? Buffer.from(message) : message, NEWLINE);
    };
    if (batch.encoded === undefined) {
      for (const record of batch.records)
        if (record.source === this.#options.source) line(record.timestamp, record.message);
    } else {
      this.#fromSpool(batch.encoded, line);
    }
    if (parts.length === 0) return { rejected: 0 };
    const bytes = Buffer.concat(parts);
    try {
      const handle = await this.#open();
      await handle.appendFile(bytes);
      await handle.datasync();
      this.#size += bytes.length;
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
   * Straight from the spool's lines (`[timestamp,"source","message"]`): a message without JSON
   * escapes is its own bytes, so the common line is never decoded into a string (the other
   * destinations share the pipeline's memory budget at tens of thousands of lines a second).
   */
  #fromSpool(encoded: Buffer, line: (timestamp: number, message: Buffer | string) => void): void {
    const sourcePrefix = Buffer.from(`,${JSON.stringify(this.#options.source)},"`);
    let start = 0;
    while (start < encoded.length) {
      let end = encoded.indexOf(0x0a, start);
      if (end === -1) end = encoded.length;
      const comma = encoded.indexOf(0x2c, start);
      if (
        comma > start &&
        comma < end &&
        encoded.subarray(comma, comma + sourcePrefix.length).equals(sourcePrefix)
      ) {
        const timestamp = Number(encoded.toString('latin1', start + 1, comma));
        const body = encoded.subarray(comma + sourcePrefix.length, end - 2); // without `"]`
        if (body.includes(0x5c)) {
          const [, , message] = JSON.parse(encoded.toString('utf8', start, end)) as [number, string, string];
          line(timestamp, message);
        } else line(timestamp, body);
      }
      start = end + 1;
    }
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
