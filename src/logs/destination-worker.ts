import type { Clock } from '../core/clock.js';
import { firstLine } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import type { LogDestination } from './log-destination.js';
import type { LogSpool } from './log-spool.js';

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

export interface DestinationStatus {
  readonly name: string;
  /** Records acknowledged by the destination. */
  readonly delivered: number;
  /** Records the destination refused for good (too old/new for CloudWatch, empty). */
  readonly rejected: number;
  /** Records dropped unsent because the spool's disk bound was hit. */
  readonly dropped: number;
  /** Failed delivery attempts (each retried). */
  readonly failures: number;
  /** true while the head delivery is failing. */
  readonly failing: boolean;
  readonly lastError: string | undefined;
  /** Bytes in the spool not yet acknowledged by this destination. */
  readonly lagBytes: number;
}

export interface DestinationWorkerOptions {
  readonly destination: LogDestination;
  readonly spool: LogSpool;
  readonly clock: Clock;
  readonly log: Logger;
  /** Records read from the spool per delivery (the destination splits them into requests). */
  readonly maxDeliveryBytes: number;
  /** After a small delivery, wait this long so that records accumulate into fuller requests. */
  readonly lingerMs: number;
}

/** Moves one destination's cursor through the spool: read, deliver (retrying), acknowledge. */
export class DestinationWorker {
  readonly #options: DestinationWorkerOptions;
  #delivered = 0;
  #rejected = 0;
  #failures = 0;
  #failing = false;
  #lastError: string | undefined;
  #draining = false;
  #linger = new AbortController();

  constructor(options: DestinationWorkerOptions) {
    this.#options = options;
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
    return {
      name: this.name,
      delivered: this.#delivered,
      rejected: this.#rejected,
      dropped: stats.dropped[this.name] ?? 0,
      failures: this.#failures,
      failing: this.#failing,
      lastError: this.#lastError,
      lagBytes: stats.lagBytes[this.name] ?? 0,
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    const { destination, spool, clock, log } = this.#options;
    try {
      for (;;) {
        const batch = await spool.read(this.name, this.#options.maxDeliveryBytes, signal);
        const result = await retry(() => destination.deliver(batch.records, signal), DELIVERY_RETRY, {
          clock,
          signal,
          isRetriable: () => true,
          onRetry: (error, attempt, delayMs) => {
            this.#failures++;
            this.#failing = true;
            this.#lastError = error instanceof Error ? firstLine(error.message) : String(error);
            log.warn(
              { err: error, destination: this.name, attempt, delayMs, records: batch.records.length },
              'Failed to deliver logs, retrying',
            );
          },
        });
        if (this.#failing) log.info({ destination: this.name }, 'Delivered logs again');
        this.#failing = false;
        this.#delivered += batch.records.length - result.rejected;
        if (result.rejected > 0) {
          this.#rejected += result.rejected;
          log.warn(
            { destination: this.name, rejected: result.rejected, rejectedTotal: this.#rejected },
            'The destination rejected log records',
          );
        }
        await spool.ack(this.name, batch.next);
        // Linger only when the app is quiet (a small delivery and nothing more to read yet);
        // under load the next delivery starts at once.
        const small = batch.bytes < this.#options.maxDeliveryBytes / 4;
        if (small && !this.#draining && !spool.hasUnread(this.name)) {
          await this.#lingerFor(this.#options.lingerMs, signal);
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      throw error;
    }
  }

  async #lingerFor(ms: number, signal: AbortSignal): Promise<void> {
    try {
      await this.#options.clock.sleep(ms, AbortSignal.any([signal, this.#linger.signal]));
    } catch {
      // woken early: shutdown, or drain()
    }
  }
}
