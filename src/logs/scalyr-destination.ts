import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { abortReason, systemClock, type Clock } from '../core/clock.js';
import { firstLine, TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import type { Secret } from '../core/secret.js';
import { VERSION } from '../version.js';
import type { DeliveryResult, LogDestination } from './log-destination.js';
import { addEventsRequests, SessionTimestamps, type PreparedRequest } from './scalyr-events.js';
import type { ScalyrRoute } from './scalyr-plan.js';
import type { RecordBatch } from './spool-records.js';

const gzip = promisify(gzipCallback);

/**
 * Scalyr's answers that say "not now" (`error/server/backoff`, 429, 5xx: the API's advice is to
 * retry after a short delay) are retried here with the same body, which the server did not
 * take. 6 attempts from 1 s doubling to 30 s with full jitter, within 2 minutes; a `Retry-After`
 * is waited on top. Then the delivery fails and the worker's own backoff takes over (for ever).
 */
export const SCALYR_BACKOFF_RETRY: RetryPolicy = {
  name: 'scalyr',
  maxAttempts: 6,
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  multiplier: 2,
  budgetMs: 120_000,
  jitter: true,
};

// The original's scalyr-agent-2 had max_line_size 49900: longer lines are sent as several events.
export const SCALYR_MAX_MESSAGE_BYTES = 49_900;
// Well below the API's body limit (3,000,000 bytes in the older documentation, 6 MB in the newer).
export const SCALYR_MAX_REQUEST_BYTES = 1_000_000;
// Log bodies are repetitive JSON: level 3 compresses them about 10× at a fraction of the
// default level's (6) CPU (bench/scalyr), and CPU is what the instance is short of.
const GZIP_LEVEL = 3;
// Answers are small JSON; a longer one is cut when read.
const MAX_ANSWER_BYTES = 64 * 1024;
// A server that waits longer than this is not waited for (Retry-After).
const MAX_RETRY_AFTER_MS = 60_000;

export interface ScalyrDestinationOptions {
  /** Cursor name in the spool; default "scalyr". */
  readonly name?: string;
  /** The addEvents URL, e.g. https://upload.eu.scalyr.com/addEvents. */
  readonly url: string;
  /** The "Write Logs" key; revealed only into the request body. */
  readonly token: Secret;
  /** Server attributes (`serverHost` and the original's server_attributes). */
  readonly sessionInfo: Readonly<Record<string, string>>;
  readonly routes: Readonly<Record<string, ScalyrRoute>>;
  readonly log: Logger;
  /** One session per agent run (default: a new UUID). */
  readonly session?: string;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly maxRequestBytes?: number;
  readonly maxMessageBytes?: number;
  readonly timeoutMs?: number;
  readonly policy?: RetryPolicy;
}

/** An answer that asks to retry later (the body was not taken). */
class ScalyrBackoff extends Error {
  override readonly name = 'ScalyrBackoff';
}

type Outcome = { readonly accepted: true } | { readonly accepted: false; readonly message: string };

/**
 * Adapter: log records to Scalyr's `addEvents` API (see scalyr-events.ts for the bodies), gzip
 * compressed. A delivery is acknowledged when Scalyr answered `success` to each of its requests.
 *
 * The bodies of a delivery are made once, with their timestamps: when the worker sends the same
 * delivery again (after a timeout, a reset connection, a failed request in the middle), the
 * requests already answered are not sent again and the others are sent byte for byte as before,
 * so Scalyr sees the same events with the same timestamps (the way scalyr-agent-2 retries).
 *
 * `error/client/badParam` (and other 400s) refuses a request for good: its records are counted
 * as rejected instead of wedging the log. `error/client/noPermission` (a wrong key) fails the
 * delivery; the worker keeps retrying, and /status shows it.
 */
export class ScalyrDestination implements LogDestination {
  readonly name: string;
  readonly session: string;
  readonly #options: ScalyrDestinationOptions;
  readonly #stamps = new SessionTimestamps();
  readonly #pending = new WeakMap<
    RecordBatch,
    { requests: PreparedRequest[]; sampledOut: number; sent: number }
  >();
  readonly #clock: Clock;

  constructor(options: ScalyrDestinationOptions) {
    this.name = options.name ?? 'scalyr';
    this.session = options.session ?? randomUUID();
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  async deliver(batch: RecordBatch, signal: AbortSignal): Promise<DeliveryResult> {
    let pending = this.#pending.get(batch);
    if (pending === undefined) {
      const { requests, sampledOut } = addEventsRequests(batch, this.#stamps, {
        session: this.session,
        sessionInfo: this.#options.sessionInfo,
        routes: this.#options.routes,
        maxRequestBytes: this.#options.maxRequestBytes ?? SCALYR_MAX_REQUEST_BYTES,
        maxMessageBytes: this.#options.maxMessageBytes ?? SCALYR_MAX_MESSAGE_BYTES,
        random: this.#options.random ?? Math.random,
      });
      pending = { requests, sampledOut, sent: 0 };
      this.#pending.set(batch, pending);
    }
    let rejected = 0;
    while (pending.sent < pending.requests.length) {
      const request = pending.requests[pending.sent];
      if (request === undefined) break;
      const outcome = await this.#send(request, signal);
      if (!outcome.accepted) {
        rejected += request.records;
        this.#options.log.warn(
          {
            destination: this.name,
            events: request.events,
            records: request.records,
            answer: outcome.message,
          },
          'Scalyr refused a request for good; its records are counted as rejected',
        );
      }
      pending.sent++;
    }
    this.#pending.delete(batch);
    return { rejected, sampledOut: pending.sampledOut };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async #send(request: PreparedRequest, signal: AbortSignal): Promise<Outcome> {
    const token = Buffer.from(`{"token":${JSON.stringify(this.#options.token.reveal())}`, 'utf8');
    const body = await gzip(Buffer.concat([token, request.body]), { level: GZIP_LEVEL });
    try {
      return await retry(() => this.#post(body, signal), this.#options.policy ?? SCALYR_BACKOFF_RETRY, {
        clock: this.#clock,
        signal,
        isRetriable: (error) => error instanceof ScalyrBackoff,
        onRetry: (error, attempt, delayMs) => {
          this.#options.log.warn(
            { destination: this.name, attempt, delayMs, answer: (error as Error).message },
            'Scalyr asked to back off; sending again',
          );
        },
      });
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      if (error instanceof TaupageError) throw error;
      const message = errorText(error);
      throw new TaupageError('LOG_SHIP_FAILED', `scalyr ${this.#where()}: ${message}`, {
        cause: error,
        retriable: true,
      });
    }
  }

  async #post(body: Buffer, signal: AbortSignal): Promise<Outcome> {
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.#options.timeoutMs ?? 30_000)]);
    const response = await fetch(this.#options.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'user-agent': `taupage/${VERSION.version}`,
      },
      body,
      signal: deadline,
    });
    const text = (await response.text()).slice(0, MAX_ANSWER_BYTES);
    let status = '';
    let message = '';
    try {
      const answer = JSON.parse(text) as { status?: unknown; message?: unknown };
      if (typeof answer.status === 'string') status = answer.status;
      if (typeof answer.message === 'string') message = firstLine(answer.message);
    } catch {
      message = firstLine(text).slice(0, 200);
    }
    const describe = `HTTP ${String(response.status)}${status === '' ? '' : ` ${status}`}${message === '' ? '' : `: ${message}`}`;
    // A 2xx without a status (not Scalyr, but a plain receiver) is taken as success too.
    if (response.ok && (status === '' || status.startsWith('success'))) {
      if (message !== '')
        this.#options.log.warn(
          { destination: this.name, answer: message },
          'Scalyr took the events with a warning',
        );
      return { accepted: true };
    }
    if (status.startsWith('error/server') || response.status === 429 || response.status >= 500) {
      const retryAfter = Number(response.headers.get('retry-after'));
      if (Number.isFinite(retryAfter) && retryAfter > 0)
        await this.#clock.sleep(Math.min(retryAfter * 1000, MAX_RETRY_AFTER_MS), signal);
      throw new ScalyrBackoff(describe);
    }
    if (
      status.startsWith('error/client/noPermission') ||
      response.status === 401 ||
      response.status === 403
    ) {
      throw new TaupageError(
        'LOG_SHIP_FAILED',
        `scalyr ${this.#where()}: the write key was refused (${describe})`,
        {
          retriable: false,
        },
      );
    }
    if (status.startsWith('error/client') || response.status === 400 || response.status === 413) {
      return { accepted: false, message: describe };
    }
    throw new TaupageError('LOG_SHIP_FAILED', `scalyr ${this.#where()}: unexpected answer (${describe})`, {
      retriable: true,
    });
  }

  /** The endpoint for messages: scheme, host and path, never a query. */
  #where(): string {
    const url = new URL(this.#options.url);
    return `${url.origin}${url.pathname}`;
  }
}

/** fetch's "fetch failed" says little: its cause (refused, reset, timed out) says what happened. */
function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return firstLine(`${error.message}${cause}`);
}
