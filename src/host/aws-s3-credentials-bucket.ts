import { GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { TaupageError } from '../core/errors.js';
import type { CredentialsBucket } from './credentials-bucket.js';

export interface S3CredentialsBucketOptions {
  readonly bucket: string;
  /** The instance's region: mint buckets are regional (berry used the instance's region too). */
  readonly region: string;
  /** Tests: the S3 emulator (path-style addressing). */
  readonly endpoint?: string | undefined;
}

/** Credentials files are a few hundred bytes; anything bigger is not one. */
const MAX_OBJECT_BYTES = 1024 * 1024;

/**
 * S3 answers that mean "this bucket will not give us the file". AccessDenied and NoSuchKey may
 * still change within seconds at boot (a fresh instance role's policy propagating, mint writing
 * the files of a just-registered app), so those two stay retriable within the boot budget.
 */
const DENIED = new Set([
  'AccessDenied',
  'AllAccessDisabled',
  'NoSuchBucket',
  'NoSuchKey',
  'InvalidBucketName',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidObjectState',
]);
const MAY_CHANGE_SOON = new Set(['AccessDenied', 'NoSuchKey']);

/** Adapter: GetObject with the instance role. The SDK's own retries are off: the caller's policy retries. */
export class AwsS3CredentialsBucket implements CredentialsBucket {
  readonly #client: S3Client;
  readonly #bucket: string;

  constructor(options: S3CredentialsBucketOptions, client?: S3Client) {
    this.#bucket = options.bucket;
    this.#client =
      client ??
      new S3Client({
        region: options.region,
        maxAttempts: 1,
        ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint, forcePathStyle: true }),
      });
  }

  destroy(): void {
    this.#client.destroy();
  }

  async get(key: string, signal: AbortSignal): Promise<Buffer> {
    const where = `s3://${this.#bucket}/${key}`;
    try {
      const output = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }), {
        abortSignal: signal,
      });
      if ((output.ContentLength ?? 0) > MAX_OBJECT_BYTES) {
        await output.Body?.transformToWebStream().cancel();
        throw new TaupageError(
          'CREDENTIALS_DENIED',
          `${where} is ${output.ContentLength ?? 0} bytes, not a credentials file`,
        );
      }
      const bytes = await output.Body?.transformToByteArray();
      return Buffer.from(bytes ?? new Uint8Array());
    } catch (error) {
      if (error instanceof TaupageError || signal.aborted) throw error;
      const name = error instanceof S3ServiceException ? error.name : (error as Error).name;
      if (DENIED.has(name)) {
        const hint = name === 'AccessDenied' ? ': the instance role needs s3:GetObject on it' : '';
        throw new TaupageError('CREDENTIALS_DENIED', `S3 refused ${where} (${name})${hint}`, {
          cause: error,
          retriable: MAY_CHANGE_SOON.has(name),
        });
      }
      throw new TaupageError('CREDENTIALS_UNAVAILABLE', `S3 GetObject of ${where} failed (${name})`, {
        cause: error,
      });
    }
  }
}
