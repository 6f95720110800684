import type { LogRecord } from './log-record.js';

/** What a destination did with a delivery it acknowledged. */
export interface DeliveryResult {
  /**
   * Records the destination accepted the request for but refused for good (CloudWatch's
   * `rejectedLogEventsInfo`: too old, too new, expired; or empty messages it cannot store).
   * They are counted and reported, never retried.
   */
  readonly rejected: number;
}

/**
 * Port: somewhere log records go (CloudWatch Logs, S3, syslog, a file). `deliver` resolves only
 * once the destination acknowledged every record (at-least-once: the caller advances its cursor
 * after that, and sends the same records again when it throws). Records may come from several
 * sources interleaved; a destination ignores (and acknowledges) sources it has no route for.
 */
export interface LogDestination {
  /** Stable name: the key of this destination's cursor in the spool state. */
  readonly name: string;
  deliver(records: readonly LogRecord[], signal: AbortSignal): Promise<DeliveryResult>;
  /** Releases clients and sockets. */
  close(): Promise<void>;
}
