import type { Clock } from '../core/clock.js';
import { firstLine } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import {
  isBuffering,
  type AnyLogDestination,
  type BufferingLogDestination,
  type DeliveryResult,
} from './log-destination.js';
import type { LogSpool, SpoolBatch } from './log-spool.js';
import type { SpoolPosition } from './spool-state-file.js';

/**
 * A failed delivery stays at the head of this destination's queue and is retried for ever (the
 * spool's disk bound, not a retry limit, decides when records are given up — unlike Fluent
 * Bit's default Retry_Limit of 1). Full jitter from 500 ms doubling to 30 s: quick after a
 * blip, and at most two calls a minute against a destination that is down for longer.
 */
export const DELIVERY_RETRY: RetryPolicy = {
  name: 'log-delivery',
  maxAttempts: Number.POSITIVE_INFINITY,
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  multiplier: 2,
  jitter: true,
};

/**
 * After a burst, a linger ends once nothing new came for this long: two and a half of the
 * spool's group-commit intervals (100 ms), so a source still writing shows up before.
 */
const BURST_QUIET_MS = 250;

export interface DestinationStatus {
  readonly name: string;
  /** Records acknowledged by the destination. */
  readonly delivered: number;
  /** Records the destination refused for good (too old/new for CloudWatch, empty). */
  readonly rejected: number;
  /** Records the destination left out on purpose (sampling rules), not sent. */
  readonly sampledOut: number;
  /** Records dropped unsent because the spool's disk bound was hit. */
  readonly dropped: number;
  /** Failed delivery attempts (each retried). */
  readonly failures: number;
  /** true while the head delivery is failing. */
  readonly failing: boolean;
  readonly lastError: string | undefined;
  /** Bytes in the spool not yet acknowledged by this destination. */
  readonly lagBytes: number;
  /**
   * 0 when caught up; else seconds without progress: since the later of its last acknowledged
   * delivery and the moment it fell behind (the first record written after it was caught up).
   * Grows while the destination is down or holds records (S3 until the chunk is due).
   */
  readonly lagSeconds: number;
}

export interface DestinationWorkerOptions {
  readonly destination: AnyLogDestination;
  readonly spool: LogSpool;
  readonly clock: Clock;
  readonly log: Logger;
  /** Records read from the spool per delivery (the destination splits them into requests). */
  readonly maxDeliveryBytes: number;
  /** Called when the worker sees itself caught up (the pipeline then watches for the next write). */
  readonly onCaughtUp?: () => void;
  /** After a small delivery, wait this long so that records accumulate into fuller requests. */
  readonly lingerMs: number;
}

interface InFlight {
  readonly batch: SpoolBatch;
  /** The read buffer the batch is a view of: free again once the delivery was acknowledged. */
  readonly buffer: Buffer;
  readonly delivering: Promise<DeliveryResult>;
}

/** Moves one destination's cursor through the spool: read, deliver (retrying), acknowledge. */
export class DestinationWorker {
  readonly #options: DestinationWorkerOptions;
  #delivered = 0;
  #rejected = 0;
  #sampledOut = 0;
  #failures = 0;
  #failing = false;
  #lastError: string | undefined;
  /** When it fell behind (undefined: caught up); for lagSeconds. */
  #behindSince: number | undefined;
  /** When a delivery was last acknowledged (ms since the epoch). */
  #progressAt = 0;
  #draining = false;
  #linger = new AbortController();
  /** The last delivery was part of a burst (full enough, or more records were waiting). */
  #streaming = false;

  constructor(options: DestinationWorkerOptions) {
    this.#options = options;
    // A backlog left by the last run counts from the start.
    if (!options.spool.caughtUp(this.name)) this.#behindSince = options.clock.now();
  }

  /** A record was written to the spool at `now`: a caught-up destination is behind from now on. */
  behindFrom(now: number): void {
    this.#behindSince ??= now;
  }

  get name(): string {
    return this.#options.destination.name;
  }

  /** From now on deliver without lingering: the pipeline is shutting down. */
  drain(): void {
    this.#draining = true;
    this.#linger.abort();
  }

  status(): DestinationStatus {
    const stats = this.#options.spool.stats();
    const caughtUp = this.#checkCaughtUp();
    const since = Math.max(this.#behindSince ?? 0, this.#progressAt);
    return {
      name: this.name,
      delivered: this.#delivered,
      rejected: this.#rejected,
      sampledOut: this.#sampledOut,
      dropped: stats.dropped[this.name] ?? 0,
      failures: this.#failures,
      failing: this.#failing,
      lastError: this.#lastError,
      lagBytes: stats.lagBytes[this.name] ?? 0,
      lagSeconds: caughtUp ? 0 : Math.max(0, this.#options.clock.now() - since) / 1000,
    };
  }

  /** Whether everything written was acknowledged; notes it (and tells the pipeline) when so. */
  #checkCaughtUp(): boolean {
    if (!this.#options.spool.caughtUp(this.name)) return false;
    if (this.#behindSince !== undefined) {
      this.#behindSince = undefined;
      this.#options.onCaughtUp?.();
    }
    return true;
  }

  #acknowledged(): void {
    this.#progressAt = this.#options.clock.now();
    this.#checkCaughtUp();
  }

  async run(signal: AbortSignal): Promise<void> {
    const { destination, spool } = this.#options;
    if (isBuffering(destination)) {
      await this.#runBuffering(destination, signal);
      return;
    }
    const limits = destination.deliveryLimits;
    const maxBytes = Math.min(this.#options.maxDeliveryBytes, limits?.bytes ?? Number.POSITIVE_INFINITY);
    const maxRecords = limits?.records ?? Number.POSITIVE_INFINITY;
    const concurrent = Math.max(1, destination.concurrentDeliveries ?? 1);
    await destination.prepare?.(signal);
    // While a delivery is in flight the next one is already read from the spool (read-ahead).
    // A destination that takes two at once (concurrentDeliveries) gets the next one sent while
    // the first is in flight, if both together hold at most `maxBytes` of spool: a crash sends
    // one delivery's worth again at most. The cursor moves in order, past acknowledged ones only.
    const inFlight: InFlight[] = [];
    let ahead: { batch: Promise<SpoolBatch>; buffer: Buffer } | undefined;
    // Read buffers, reused once their delivery was acknowledged. A new buffer per read outlived
    // the young generation (held across a request): most of the agent's external memory.
    const free: Buffer[] = [];
    const read = (limit: number): { batch: Promise<SpoolBatch>; buffer: Buffer } => {
      const buffer = free.pop() ?? Buffer.allocUnsafe(maxBytes);
      const batch = spool.read(this.name, limit, signal, maxRecords, buffer);
      // Observed where it is awaited; a rejection while a delivery fails is not unhandled.
      batch.catch(() => undefined);
      return { batch, buffer };
    };
    const start = (batch: SpoolBatch, buffer: Buffer): void => {
      const delivering = this.#retried(
        () => destination.deliver(batch.records, signal),
        batch.records.length,
        signal,
      );
      delivering.catch(() => undefined);
      inFlight.push({ batch, buffer, delivering });
    };
    const bytesInFlight = (from: number): number => {
      let bytes = 0;
      for (let i = from; i < inFlight.length; i++) bytes += (inFlight[i] as InFlight).batch.bytes;
      return bytes;
    };
    let acknowledgedOnce = false;
    try {
      for (;;) {
        if (inFlight.length === 0) {
          const next = ahead ?? read(maxBytes);
          ahead = undefined;
          start(await next.batch, next.buffer);
        }
        // A second delivery at once: only after one was acknowledged in this run (the first one
        // may create the stream) and while none is failing (an outage is retried by one).
        while (inFlight.length < concurrent && acknowledgedOnce && !this.#failing) {
          const room = maxBytes - bytesInFlight(0);
          if (ahead === undefined) {
            // From memory a read is at once: the second one goes when it is worth a request.
            const worth = spool.readsFromMemory(this.name) ? room / 2 : 1;
            if (room < maxBytes / 4 || spool.unreadBytes(this.name) < worth) break;
            ahead = read(room);
          }
          const batch = await ahead.batch;
          if (batch.bytes > room) break;
          start(batch, ahead.buffer);
          ahead = undefined;
        }
        // Read ahead (from disk) what may go once the oldest delivery is acknowledged; from
        // memory the read waits for that acknowledgement and takes what came meanwhile.
        const aheadBytes = maxBytes - bytesInFlight(1);
        if (ahead === undefined && aheadBytes >= maxBytes / 4 && !spool.readsFromMemory(this.name))
          ahead = spool.hasUnread(this.name) ? read(aheadBytes) : undefined;
        const { batch, buffer, delivering } = inFlight[0] as InFlight;
        const result = await delivering;
        inFlight.shift();
        free.push(buffer);
        const sampledOut = result.sampledOut ?? 0;
        this.#sampledOut += sampledOut;
        this.#delivered += batch.records.length - result.rejected - sampledOut;
        this.#countRejected(result.rejected);
        await spool.ack(this.name, batch.next);
        this.#acknowledged();
        acknowledgedOnce = true;
        // Linger after a small delivery: in a burst (streaming) while less than a full one is
        // unread, until it is there or nothing new came for BURST_QUIET_MS; else (a trickle)
        // only with nothing unread, for lingerMs. Under load the next delivery starts at once.
        const small = batch.bytes < maxBytes / 4 && batch.records.length < maxRecords / 4;
        const full = Math.min(maxBytes, (maxRecords * batch.bytes) / Math.max(1, batch.records.length));
        const unread = spool.unreadBytes(this.name);
        const wait = unread === 0 || (this.#streaming && unread < full);
        if (inFlight.length === 0 && ahead === undefined && small && wait && !this.#draining) {
          this.#streaming = await this.#lingerFor(this.#options.lingerMs, full, signal);
        } else this.#streaming = true;
      }
    } catch (error) {
      if (signal.aborted) return;
      throw error;
    }
  }

  /**
   * The loop of a destination that gathers records (S3): read and hold until the next unit is
   * due, flush (retrying like a delivery; nothing more is read meanwhile, so the spool, not
   * memory, absorbs an outage), then acknowledge up to the oldest record still held.
   */
  async #runBuffering(destination: BufferingLogDestination, signal: AbortSignal): Promise<void> {
    const { spool, clock } = this.#options;
    let readTo: SpoolPosition | undefined;
    try {
      for (;;) {
        const unread = spool.hasUnread(this.name);
        const dueAt = destination.dueAt();
        // Read at once what is there; else wait for data until the next chunk is due (or, while
        // draining, not at all when something is held).
        const waitMs = unread
          ? Number.POSITIVE_INFINITY
          : dueAt === undefined
            ? Number.POSITIVE_INFINITY
            : this.#draining
              ? 0
              : Math.max(0, dueAt - clock.now());
        if (waitMs > 0) {
          const batch = await this.#readUntil(waitMs, signal);
          if (batch !== undefined) {
            this.#countRejected(destination.hold(batch.records.records, batch.from).rejected);
            readTo = batch.next;
          }
        }
        // While draining, everything goes once the spool has been read to its end.
        const all = this.#draining && !spool.hasUnread(this.name);
        const due = destination.dueAt();
        if (due !== undefined && (all || due <= clock.now())) {
          this.#delivered += await this.#retried(() => destination.flush(all, signal), undefined, signal);
          this.#progressAt = clock.now();
        }
        const ackTo = destination.heldFrom() ?? readTo;
        if (ackTo !== undefined) await spool.ack(this.name, ackTo);
        this.#checkCaughtUp();
      }
    } catch (error) {
      if (signal.aborted) return;
      throw error;
    }
  }

  /** The next spool read, or undefined when `waitMs` passed (or drain() woke it) without data. */
  async #readUntil(waitMs: number, signal: AbortSignal): Promise<ReturnType<LogSpool['read']> | undefined> {
    const { spool, clock, maxDeliveryBytes } = this.#options;
    const wake = new AbortController();
    const stopWaiting = new AbortController();
    const signals = [signal, wake.signal];
    if (!this.#draining) signals.push(this.#linger.signal);
    if (Number.isFinite(waitMs)) {
      clock.sleep(waitMs, stopWaiting.signal).then(
        () => {
          wake.abort();
        },
        () => undefined,
      );
    }
    try {
      return await spool.read(this.name, maxDeliveryBytes, AbortSignal.any(signals));
    } catch (error) {
      if (signal.aborted) throw error;
      return undefined;
    } finally {
      stopWaiting.abort();
    }
  }

  async #retried<T>(
    operation: () => Promise<T>,
    records: number | undefined,
    signal: AbortSignal,
  ): Promise<T> {
    const { clock, log } = this.#options;
    const result = await retry(operation, DELIVERY_RETRY, {
      clock,
      signal,
      isRetriable: () => true,
      onRetry: (error, attempt, delayMs) => {
        this.#failures++;
        this.#failing = true;
        this.#lastError = error instanceof Error ? firstLine(error.message) : String(error);
        log.warn(
          { err: error, destination: this.name, attempt, delayMs, records },
          'Failed to deliver logs, retrying',
        );
      },
    });
    if (this.#failing) log.info({ destination: this.name }, 'Delivered logs again');
    this.#failing = false;
    return result;
  }

  #countRejected(rejected: number): void {
    if (rejected === 0) return;
    this.#rejected += rejected;
    this.#options.log.warn(
      { destination: this.name, rejected, rejectedTotal: this.#rejected },
      'The destination rejected log records',
    );
  }

  /**
   * Waits `ms`, or less: when `enoughBytes` are unread (a full enough delivery: returns true),
   * right after a burst when nothing new came for BURST_QUIET_MS (the last records of a burst do
   * not wait for the rest of the second), when drain() is called or the signal aborts. A trickle
   * of lines still goes out once per `ms`, and a burst costs at most one early request after it.
   */
  async #lingerFor(ms: number, enoughBytes: number, signal: AbortSignal): Promise<boolean> {
    const { clock, spool } = this.#options;
    const stop = new AbortController();
    const until = AbortSignal.any([signal, this.#linger.signal, stop.signal]);
    clock.sleep(ms, until).then(
      () => {
        stop.abort();
      },
      () => undefined,
    );
    try {
      for (;;) {
        const unread = spool.unreadBytes(this.name);
        if (unread >= enoughBytes) return true;
        if (!this.#streaming || unread === 0) {
          await spool.waitForUnread(this.name, unread + 1, until);
          continue;
        }
        const quiet = new AbortController();
        const grown = spool.waitForUnread(this.name, unread + 1, AbortSignal.any([until, quiet.signal])).then(
          () => true,
          () => false,
        );
        const slept = clock.sleep(BURST_QUIET_MS, AbortSignal.any([until, quiet.signal])).then(
          () => false,
          () => false,
        );
        const more = await Promise.race([grown, slept]);
        quiet.abort();
        if (!more) return false;
      }
    } catch {
      // lingered long enough, or woken early: shutdown, or drain()
      return false;
    } finally {
      stop.abort();
    }
  }
}
