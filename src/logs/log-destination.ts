import type { LogRecord } from './log-record.js';
import type { RecordBatch } from './spool-records.js';
import type { SpoolPosition } from './spool-state-file.js';

/** What a destination did with a delivery it acknowledged. */
export interface DeliveryResult {
  /**
   * Records the destination accepted the request for but refused for good (CloudWatch's
   * `rejectedLogEventsInfo`: too old, too new, expired; or empty messages it cannot store).
   * They are counted and reported, never retried.
   */
  readonly rejected: number;
  /**
   * Records the destination left out on purpose (Scalyr's sampling rules): acknowledged, not
   * sent, counted apart from the delivered ones. Absent: 0.
   */
  readonly sampledOut?: number;
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
  deliver(batch: RecordBatch, signal: AbortSignal): Promise<DeliveryResult>;
  /**
   * The most one delivery should hold: spool bytes and records (the worker reads no more; the
   * pipeline's delivery size applies when it is smaller). CloudWatch Logs: one full PutLogEvents
   * request, so each delivery is one request and the next one is read while it is in flight.
   */
  readonly deliveryLimits?: { readonly bytes: number; readonly records: number };
  /**
   * Deliveries this destination takes at once (default 1). The worker sends a second one while the first is in flight only when both together hold at most one
   * delivery's bytes of spool, so a crash sends at most that again; the cursor still moves in
   * spool order. For destinations whose deliveries are independent requests (CloudWatch Logs).
   */
  readonly concurrentDeliveries?: number;
  /**
   * Called once before the first delivery, while the app may still be starting: creates what
   * the deliveries need and warms the client, so the first lines do not wait for it. Never
   * throws; what it could not do, `deliver` does (or reports) in its turn.
   */
  prepare?(signal: AbortSignal): Promise<void>;
  /** Releases clients and sockets. */
  close(): Promise<void>;
}

/**
 * Port: a destination that gathers records into larger units before it sends them (S3: one
 * gzip object per source and time window). The worker hands it what it reads from the spool
 * with `hold` (no I/O, nothing acknowledged), calls `flush` when `dueAt` has come, and moves the
 * spool cursor only up to `heldFrom()`: a crash re-sends what was held, never loses it.
 */
export interface BufferingLogDestination {
  readonly name: string;
  readonly buffering: true;
  /** Takes records into the open units; `from` is where they start in the spool. No I/O. */
  hold(records: readonly LogRecord[], from: SpoolPosition): DeliveryResult;
  /** When the next unit is due (ms since the epoch; ≤ now: due), undefined when nothing is held. */
  dueAt(): number | undefined;
  /**
   * Sends the units that are due (every unit with `all`) and resolves once each was acknowledged,
   * with the number of records sent. Safe to call again after it threw: units already sent are
   * not sent again, a unit that failed is sent again under the same name.
   */
  flush(all: boolean, signal: AbortSignal): Promise<number>;
  /** The spool position of the oldest record still held; undefined when nothing is held. */
  heldFrom(): SpoolPosition | undefined;
  close(): Promise<void>;
}

export type AnyLogDestination = LogDestination | BufferingLogDestination;

export function isBuffering(destination: AnyLogDestination): destination is BufferingLogDestination {
  return 'buffering' in destination;
}
