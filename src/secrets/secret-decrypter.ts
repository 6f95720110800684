import type { Secret } from '../core/secret.js';

/**
 * Port: turns an `aws:kms:` ciphertext into a Secret. Implementations throw TaupageError with a
 * SECRET_* code; `retriable` is set for throttling and service-side failures only.
 */
export interface SecretDecrypter {
  /**
   * `context`: the KMS encryption context (`encryption_context`) the value was encrypted under;
   * empty or absent: none. A mismatch fails like a bad ciphertext (SECRET_INVALID), as in KMS.
   */
  decrypt(ciphertext: Buffer, signal: AbortSignal, context?: EncryptionContext): Promise<Secret>;
}

/** KMS encryption context: non-secret name/value pairs bound to a ciphertext. */
export type EncryptionContext = ReadonlyMap<string, string>;
