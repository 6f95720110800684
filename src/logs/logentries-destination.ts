import type { Logger } from '../core/logger.js';
import type { Secret } from '../core/secret.js';
import { splitUtf8 } from './log-message.js';
import type { LogRecord } from './log-record.js';
import { SyslogDestination } from './syslog-destination.js';

/**
 * The default Logentries endpoint: the token input over TLS (port 443). Logentries is now Rapid7
 * InsightOps; accounts in its regions use `eu.data.logs.insight.rapid7.com:443` or
 * `us.data.logs.insight.rapid7.com:443` (`--logentries-endpoint`).
 */
export const LOGENTRIES_DEFAULT_ENDPOINT = 'data.logentries.com:443';

// InsightOps takes events up to 64 KiB; a longer line is sent as several, never cut off.
const MAX_LINE_BYTES = 65_000;

export interface LogentriesEndpoint {
  readonly host: string;
  readonly port: number;
  readonly protocol: 'tcp' | 'tls';
}

/**
 * `HOST:PORT` (TLS), `tls://HOST:PORT`, or `tcp://HOST:PORT` (plain TCP: Logentries' ports 80,
 * 514 and 10000, and tests). Throws a one-line Error naming what was expected.
 */
export function parseLogentriesEndpoint(text: string): LogentriesEndpoint {
  const match = /^(?:(tcp|tls):\/\/)?(\[[^\]]+\]|[^:/\s]+):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (match === null || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`expected HOST:PORT, tls://HOST:PORT or tcp://HOST:PORT, found "${text}"`);
  const host = (match[2] ?? '').replace(/^\[(.*)\]$/, '$1');
  return { host, port, protocol: match[1] === 'tcp' ? 'tcp' : 'tls' };
}

export interface LogentriesDestinationOptions {
  readonly endpoint: LogentriesEndpoint;
  /** The log's token; revealed only into the bytes sent. */
  readonly token: Secret;
  /** The sources sent (by name). */
  readonly sources: readonly string[];
  /** TLS: extra trusted CA certificates (PEM); the system's CAs otherwise. */
  readonly ca?: string | Buffer | undefined;
  readonly log: Logger;
}

/**
 * Adapter: Logentries' token-based input (Token TCP): one TCP or TLS connection, one line per
 * event, each line starting with the log's token and a space; the server takes the token off.
 * The connection handling, acknowledgement (bytes handed to the kernel) and reconnects are the
 * syslog destination's; only the lines differ.
 */
export class LogentriesDestination extends SyslogDestination {
  protected override readonly kind = 'logentries';
  readonly #token: Secret;
  readonly #sources: ReadonlySet<string>;

  constructor(options: LogentriesDestinationOptions) {
    super({
      name: 'logentries',
      host: options.endpoint.host,
      port: options.endpoint.port,
      protocol: options.endpoint.protocol,
      // Not used: the lines are made by `messages` below.
      header: { facility: 1, severity: 'notice', hostname: '-', appName: '-' },
      routes: {},
      ca: options.ca,
      log: options.log,
    });
    this.#token = options.token;
    this.#sources = new Set(options.sources);
  }

  override messages(records: readonly LogRecord[]): Buffer[] {
    const prefix = `${this.#token.reveal()} `;
    const lines: Buffer[] = [];
    for (const record of records) {
      if (!this.#sources.has(record.source)) continue;
      for (const piece of record.message === '' ? [''] : splitUtf8(record.message, MAX_LINE_BYTES))
        lines.push(Buffer.from(`${prefix}${piece}`, 'utf8'));
    }
    return lines;
  }

  protected override frame(message: Buffer): Buffer {
    return Buffer.concat([message, NEWLINE]);
  }
}

const NEWLINE = Buffer.from('\n');
