import { PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { TaupageError } from '../core/errors.js';
import type { AuditBatch, AuditSink } from './audit-sink.js';

export interface S3AuditSinkOptions {
  readonly bucket: string;
  /** Key prefix, e.g. "taupage-audit/" (kept as given; "" for none). */
  readonly prefix: string;
  readonly region: string;
  /** Tests: the S3 emulator (path-style addressing). */
  readonly endpoint?: string | undefined;
}

/** S3 answers that will not improve on a retry (bucket gone, no permission, bad request). */
const PERMANENT = new Set([
  'AccessDenied',
  'NoSuchBucket',
  'InvalidBucketName',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
]);

/** `<prefix><instance-id>/<yyyy>/<mm>/<dd>/<boot-id>/<first seq>-<last seq>.jsonl`: sorted, unique, idempotent. */
export function s3AuditKey(prefix: string, batch: AuditBatch): string {
  const day = batch.firstTs.slice(0, 10).split('-').join('/');
  const seq = (n: number): string => String(n).padStart(12, '0');
  return `${prefix}${batch.instanceId}/${day}/${batch.bootId}/${seq(batch.firstSeq)}-${seq(batch.lastSeq)}.jsonl`;
}

/** Adapter: one PutObject per batch (the SDK retries throttling and 5xx itself, 3 attempts). */
export class AwsS3AuditSink implements AuditSink {
  readonly name = 's3';
  readonly #client: S3Client;
  readonly #options: S3AuditSinkOptions;

  constructor(options: S3AuditSinkOptions, client?: S3Client) {
    this.#options = options;
    this.#client =
      client ??
      new S3Client({
        region: options.region,
        ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint, forcePathStyle: true }),
      });
  }

  destroy(): void {
    this.#client.destroy();
  }

  async put(batch: AuditBatch, signal: AbortSignal): Promise<void> {
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#options.bucket,
          Key: s3AuditKey(this.#options.prefix, batch),
          Body: batch.body,
          ContentType: 'application/x-ndjson',
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      const name = error instanceof S3ServiceException ? error.name : (error as Error).name;
      throw new TaupageError('AUDIT_SHIP_FAILED', `S3 PutObject of the audit trail failed (${name})`, {
        cause: error,
        retriable: !PERMANENT.has(name),
      });
    }
  }
}
