import type { Secret } from '../core/secret.js';

/**
 * Port: turns an `aws:kms:` ciphertext into a Secret. Implementations throw TaupageError with a
 * SECRET_* code; `retriable` is set for throttling and service-side failures only.
 */
export interface SecretDecrypter {
  decrypt(ciphertext: Buffer, signal: AbortSignal): Promise<Secret>;
}
