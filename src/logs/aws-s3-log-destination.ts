import { PutObjectCommand, S3Client, type ObjectCannedACL } from '@aws-sdk/client-s3';
import { systemClock, type Clock } from '../core/clock.js';
import { firstLine, TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import type { BufferingLogDestination, DeliveryResult } from './log-destination.js';
import type { LogRecord } from './log-record.js';
import { S3LogChunks, type S3LogRoute, type S3ObjectNaming, type SealedChunk } from './s3-log-chunks.js';
import { comparePositions } from './spool-segment-files.js';
import type { SpoolPosition } from './spool-state-file.js';

export interface AwsS3LogDestinationOptions {
  /** Cursor name in the spool; default "s3". */
  readonly name?: string;
  readonly bucket: string;
  readonly region: string;
  /** Tests and emulators (path-style addressing); the SDK's regional endpoint otherwise. */
  readonly endpoint?: string | undefined;
  /** `s3_acl`: canned ACL of every object; undefined sends none (the bucket's default). */
  readonly acl?: string | undefined;
  readonly naming: S3ObjectNaming;
  /** Source name → `<source>` in the key. Records of other sources are acknowledged without sending. */
  readonly routes: Readonly<Record<string, S3LogRoute>>;
  /** `s3_timekey` in ms. */
  readonly timekeyMs: number;
  /** `s3_raw_log_format`. */
  readonly raw: boolean;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Per-request deadline. */
  readonly timeoutMs?: number;
  readonly chunkBytes?: number;
  readonly maxHeldBytes?: number;
}

// fluentd's S3 output rolls chunks at 256 MB; 16 MiB of text (1–2 MiB of gzip) keeps the
// destination's memory small while an object still holds minutes of a busy app's output. All
// chunks together never hold more than 32 MiB of text: then everything is sent at once.
const CHUNK_BYTES = 16 * 1024 * 1024;
const MAX_HELD_BYTES = 32 * 1024 * 1024;

/**
 * SlowDown/503 and 5xx are retried here per object, before the flush as a whole fails and the
 * destination worker backs off (DELIVERY_RETRY). S3 asks clients to back off exponentially on
 * SlowDown; 5 attempts from 200 ms doubling to 5 s (about 10 s) ride out a partition split.
 */
export const PUT_OBJECT_RETRY: RetryPolicy = {
  name: 's3-logs',
  maxAttempts: 5,
  initialDelayMs: 200,
  maxDelayMs: 5_000,
  multiplier: 2,
  jitter: true,
};

// Answers that a retry of the same request cannot fix (the worker still retries the flush
// slowly, for ever: a bucket policy fixed later must find the logs still in the spool).
const PERMANENT = new Set([
  'AccessDenied',
  'AccessControlListNotSupported',
  'NoSuchBucket',
  'InvalidBucketName',
  'InvalidAccessKeyId',
  'InvalidArgument',
  'SignatureDoesNotMatch',
  'AuthorizationHeaderMalformed',
]);

/**
 * Adapter: log records as gzip objects in S3 (@aws-sdk/client-s3 PutObject), one per source and
 * `s3_timekey` window, rolled earlier by size. Objects are named before the first attempt, so a
 * retried PUT overwrites itself with the same bytes; `<seq>` grows across restarts, so an object
 * re-sent after a crash never replaces an earlier one (at-least-once: it may repeat lines).
 */
export class AwsS3LogDestination implements BufferingLogDestination {
  readonly name: string;
  readonly buffering = true;
  readonly #client: S3Client;
  readonly #options: AwsS3LogDestinationOptions;
  readonly #chunks: S3LogChunks;
  readonly #clock: Clock;
  /** Sealed and not yet acknowledged by S3, oldest first. */
  #sealed: SealedChunk[] = [];

  constructor(options: AwsS3LogDestinationOptions) {
    this.name = options.name ?? 's3';
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#client = new S3Client({
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint, forcePathStyle: true }),
      // One attempt per call: our retry helper owns the policy, so the two never multiply.
      maxAttempts: 1,
    });
    this.#chunks = new S3LogChunks({
      naming: options.naming,
      routes: options.routes,
      timekeyMs: options.timekeyMs,
      raw: options.raw,
      chunkBytes: options.chunkBytes ?? CHUNK_BYTES,
      maxHeldBytes: options.maxHeldBytes ?? MAX_HELD_BYTES,
      now: () => this.#clock.now(),
    });
  }

  hold(records: readonly LogRecord[], from: SpoolPosition): DeliveryResult {
    this.#chunks.hold(records, from);
    return { rejected: 0 };
  }

  dueAt(): number | undefined {
    return this.#sealed.length > 0 ? 0 : this.#chunks.dueAt();
  }

  heldFrom(): SpoolPosition | undefined {
    let oldest = this.#chunks.heldFrom();
    for (const { from } of this.#sealed)
      if (oldest === undefined || comparePositions(from, oldest) < 0) oldest = from;
    return oldest;
  }

  async flush(all: boolean, signal: AbortSignal): Promise<number> {
    this.#sealed.push(...this.#chunks.sealDue(all, this.#clock.now()));
    let sent = 0;
    while (this.#sealed[0] !== undefined) {
      const chunk = this.#sealed[0];
      await this.#put(chunk, signal);
      this.#sealed.shift();
      sent += chunk.records;
    }
    return sent;
  }

  async close(): Promise<void> {
    this.#client.destroy();
    return Promise.resolve();
  }

  async #put(chunk: SealedChunk, signal: AbortSignal): Promise<void> {
    const { bucket, acl, log } = this.#options;
    await retry(
      async () => {
        try {
          await this.#client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: chunk.key,
              Body: chunk.body,
              ContentType: 'application/gzip',
              ...(acl === undefined ? {} : { ACL: acl as ObjectCannedACL }),
            }),
            {
              abortSignal: AbortSignal.any([signal, AbortSignal.timeout(this.#options.timeoutMs ?? 30_000)]),
            },
          );
        } catch (error) {
          throw toShipError(error, bucket, chunk.key, signal);
        }
      },
      PUT_OBJECT_RETRY,
      {
        clock: this.#clock,
        signal,
        isRetriable: (error) => error instanceof TaupageError && error.retriable,
      },
    );
    log.debug(
      { bucket, key: chunk.key, records: chunk.records, bytes: chunk.body.length },
      'Uploaded logs to S3',
    );
  }
}

function toShipError(error: unknown, bucket: string, key: string, signal: AbortSignal): unknown {
  // Our own abort (shutdown) passes through; a per-request timeout is a retriable failure.
  if (error instanceof TaupageError || signal.aborted) return error;
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? firstLine(error.message) : String(error);
  return new TaupageError('LOG_SHIP_FAILED', `S3 PutObject s3://${bucket}/${key}: ${name}: ${message}`, {
    cause: error,
    retriable: !PERMANENT.has(name),
  });
}
