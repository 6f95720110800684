import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { abortReason } from '../core/clock.js';
import { firstLine, TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { DeliveryResult, LogDestination } from './log-destination.js';
import { splitUtf8 } from './log-message.js';
import type { LogRecord } from './log-record.js';
import type { RecordBatch } from './spool-records.js';
import { octetCounted, rfc5424Prefix, type SyslogHeader } from './rfc5424.js';

export type SyslogProtocol = 'tcp' | 'tls' | 'udp';

/** One source's route: the MSGID and `source` parameter, and lines to leave out. */
export interface SyslogRoute {
  readonly label: string;
  readonly exclude?: RegExp | undefined;
}

export interface SyslogDestinationOptions {
  /** Cursor name in the spool; default "rsyslog". */
  readonly name?: string;
  readonly host: string;
  readonly port: number;
  readonly protocol: SyslogProtocol;
  /** Facility, severity, HOSTNAME, APP-NAME and PROCID of every message. */
  readonly header: Omit<SyslogHeader, 'msgId' | 'structuredData'>;
  /** Parameters of the `taupage@32473` element of every message, after `source`. */
  readonly params?: ReadonlyArray<readonly [string, string]>;
  readonly routes: Readonly<Record<string, SyslogRoute>>;
  /** TLS: extra trusted CA certificates (PEM); the system's CAs otherwise. */
  readonly ca?: string | Buffer | undefined;
  readonly log: Logger;
  /** A whole message (header and MSG) is at most this long; longer lines are split. */
  readonly maxMessageBytes?: number;
  readonly timeoutMs?: number;
}

// rsyslog's default $MaxMessageSize is 8k (8096 bytes): a longer message is truncated by the
// receiver, so longer lines are sent as several messages instead.
const DEFAULT_MAX_MESSAGE_BYTES = 8096;
// SD-ID of our structured data: a private one needs `@<enterprise number>`; 32473 is the number
// reserved for documentation and examples (RFC 5612).
export const SD_ID = 'taupage@32473';

/**
 * Adapter: RFC 5424 messages to a remote syslog server over TCP (RFC 6587 octet counting), TLS
 * (RFC 5425) or UDP (RFC 5426, one message per datagram). A delivery is acknowledged once its
 * bytes were handed to the kernel (TCP/TLS) or sent (UDP); syslog has no application-level ack.
 * A broken connection fails the delivery, and the worker sends it again on a new connection
 * with backoff.
 */
export class SyslogDestination implements LogDestination {
  readonly name: string;
  /** What the messages and log lines call the server. */
  protected readonly kind: string = 'syslog';
  readonly #options: SyslogDestinationOptions;
  readonly #maxMessageBytes: number;
  #socket: Socket | undefined;
  #udp: UdpSocket | undefined;

  constructor(options: SyslogDestinationOptions) {
    this.name = options.name ?? 'rsyslog';
    this.#options = options;
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** The messages for `records` (unframed), split to the maximum message size. */
  messages(records: readonly LogRecord[]): Buffer[] {
    const messages: Buffer[] = [];
    for (const record of records) {
      const route = this.#options.routes[record.source];
      if (route === undefined || route.exclude?.test(record.message) === true) continue;
      const prefix = rfc5424Prefix(
        {
          ...this.#options.header,
          msgId: route.label,
          structuredData: [{ id: SD_ID, params: [['source', route.label], ...(this.#options.params ?? [])] }],
        },
        record.timestamp,
      );
      const room = Math.max(256, this.#maxMessageBytes - Buffer.byteLength(prefix));
      for (const piece of record.message === '' ? [''] : splitUtf8(record.message, room))
        messages.push(Buffer.from(prefix + piece, 'utf8'));
    }
    return messages;
  }

  async deliver(batch: RecordBatch, signal: AbortSignal): Promise<DeliveryResult> {
    const messages = this.messages(batch.records);
    if (messages.length === 0) return { rejected: 0 };
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.#options.timeoutMs ?? 30_000)]);
    try {
      if (this.#options.protocol === 'udp') await this.#sendUdp(messages, deadline);
      else
        await this.#write(
          await this.#connect(deadline),
          Buffer.concat(messages.map((message) => this.frame(message))),
          deadline,
        );
    } catch (error) {
      this.#socket?.destroy();
      this.#socket = undefined;
      if (signal.aborted) throw abortReason(signal);
      const { host, port, protocol } = this.#options;
      const message = error instanceof Error ? firstLine(error.message) : String(error);
      throw new TaupageError(
        'LOG_SHIP_FAILED',
        `${this.kind} ${protocol}://${host}:${String(port)}: ${message}`,
        {
          cause: error,
          retriable: true,
        },
      );
    }
    return { rejected: 0 };
  }

  /** A message as it goes over TCP/TLS: RFC 6587 octet counting. */
  protected frame(message: Buffer): Buffer {
    return octetCounted(message);
  }

  async close(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => {
          resolve();
        });
        socket.end();
        setTimeout(() => socket.destroy(), 2_000).unref();
      });
    }
    this.#udp?.close();
    this.#udp = undefined;
  }

  async #connect(signal: AbortSignal): Promise<Socket> {
    const current = this.#socket;
    if (current !== undefined && !current.destroyed && current.writable) return current;
    const { host, port, protocol, ca, log } = this.#options;
    const socket =
      protocol === 'tls'
        ? tlsConnect({
            host,
            port,
            ...(ca === undefined ? {} : { ca }),
            ...(isIP(host) ? {} : { servername: host }),
          })
        : netConnect({ host, port });
    const ready = protocol === 'tls' ? 'secureConnect' : 'connect';
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        socket.off(ready, onReady);
        socket.off('error', onError);
        signal.removeEventListener('abort', onAbort);
      };
      const onReady = (): void => {
        cleanup();
        resolve();
      };
      const onError = (error: Error): void => {
        cleanup();
        socket.destroy();
        reject(error);
      };
      const onAbort = (): void => {
        onError(abortReason(signal));
      };
      socket.once(ready, onReady);
      socket.once('error', onError);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    socket.setKeepAlive(true, 60_000);
    // The server sends nothing; when it closes its side, drop the connection so the next
    // delivery opens a new one instead of writing into a half-closed socket.
    socket.on('data', () => undefined);
    socket.on('end', () => socket.destroy());
    socket.on('error', (error) => {
      log.warn({ err: error, host, port }, `The ${this.kind} connection failed`);
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#socket = undefined;
    });
    log.info({ host, port, protocol }, `Connected to the ${this.kind} server`);
    this.#socket = socket;
    return socket;
  }

  async #write(socket: Socket, data: Buffer, signal: AbortSignal): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        socket.off('close', onClose);
        signal.removeEventListener('abort', onAbort);
      };
      const onClose = (): void => {
        cleanup();
        reject(new Error('the connection closed during the write'));
      };
      const onAbort = (): void => {
        cleanup();
        reject(abortReason(signal));
      };
      socket.once('close', onClose);
      signal.addEventListener('abort', onAbort, { once: true });
      socket.write(data, (error) => {
        cleanup();
        if (error) reject(error);
        else resolve();
      });
    });
  }

  async #sendUdp(messages: readonly Buffer[], signal: AbortSignal): Promise<void> {
    const { host, port } = this.#options;
    this.#udp ??= createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    const udp = this.#udp;
    for (const message of messages) {
      if (signal.aborted) throw abortReason(signal);
      await new Promise<void>((resolve, reject) => {
        udp.send(message, port, host, (error) => {
          if (error) reject(error);
          else resolve();
        });
      });
    }
  }
}
