import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { TaupageError, type ErrorCode } from '../core/errors.js';
import { Secret } from '../core/secret.js';
import type { EncryptionContext, SecretDecrypter } from './secret-decrypter.js';

export interface KmsSecretDecrypterOptions {
  readonly region: string;
  /** Override for tests and local emulators; the SDK's regional endpoint otherwise. */
  readonly endpoint?: string | undefined;
  /** Per-call deadline. */
  readonly timeoutMs?: number;
}

// KMS error names (KMS API reference, Decrypt) → our codes. Throttling and service-side errors
// are retriable; everything that says "this ciphertext/key/role will never work" is not.
const KMS_ERRORS: Readonly<Record<string, { code: ErrorCode; retriable: boolean; say: string }>> = {
  AccessDeniedException: {
    code: 'SECRET_ACCESS_DENIED',
    retriable: false,
    say: 'access denied (does the instance role allow kms:Decrypt?)',
  },
  InvalidCiphertextException: {
    code: 'SECRET_INVALID',
    retriable: false,
    say: 'not a valid ciphertext for this account or key, or encrypted under another encryption_context',
  },
  IncorrectKeyException: { code: 'SECRET_INVALID', retriable: false, say: 'encrypted under a different key' },
  InvalidKeyUsageException: {
    code: 'SECRET_INVALID',
    retriable: false,
    say: 'the key cannot be used to decrypt',
  },
  DisabledException: { code: 'SECRET_KEY_DISABLED', retriable: false, say: 'the KMS key is disabled' },
  KMSInvalidStateException: {
    code: 'SECRET_KEY_DISABLED',
    retriable: false,
    say: 'the KMS key is pending deletion or import',
  },
  NotFoundException: { code: 'SECRET_KEY_DISABLED', retriable: false, say: 'the KMS key does not exist' },
  ThrottlingException: { code: 'SECRET_UNAVAILABLE', retriable: true, say: 'KMS is throttling requests' },
  KMSInternalException: { code: 'SECRET_UNAVAILABLE', retriable: true, say: 'KMS had an internal error' },
  DependencyTimeoutException: { code: 'SECRET_UNAVAILABLE', retriable: true, say: 'KMS timed out' },
  KeyUnavailableException: {
    code: 'SECRET_UNAVAILABLE',
    retriable: true,
    say: 'the KMS key is temporarily unavailable',
  },
  // The host's clock is off (stepped, or not yet synced at boot): the SDK takes KMS's time from
  // the refusal's Date header, so the next attempt is signed right. The SDK's own clock-skew
  // list (AWS: InvalidSignatureException, RequestExpired, RequestTimeTooSkewed, ...).
  InvalidSignatureException: {
    code: 'SECRET_UNAVAILABLE',
    retriable: true,
    say: 'KMS refused the request signature (is the host clock off?)',
  },
  RequestExpired: {
    code: 'SECRET_UNAVAILABLE',
    retriable: true,
    say: 'the request expired (host clock off?)',
  },
  RequestTimeTooSkewed: {
    code: 'SECRET_UNAVAILABLE',
    retriable: true,
    say: 'the host clock is too far off',
  },
  // The instance role's credentials expired between fetch and use; the SDK fetches fresh ones.
  ExpiredTokenException: { code: 'SECRET_UNAVAILABLE', retriable: true, say: 'the role credentials expired' },
};

/** Adapter: the real KMS Decrypt call through @aws-sdk/client-kms. Retries are the caller's. */
export class KmsSecretDecrypter implements SecretDecrypter {
  readonly #client: KMSClient;
  readonly #timeoutMs: number;

  constructor(options: KmsSecretDecrypterOptions) {
    this.#client = new KMSClient({
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      // One attempt per call: our retry helper owns the policy, so the two never multiply.
      maxAttempts: 1,
    });
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async decrypt(ciphertext: Buffer, signal: AbortSignal, context?: EncryptionContext): Promise<Secret> {
    let output;
    // KMS binds the context to the ciphertext: Decrypt must send exactly the pairs Encrypt got.
    const encryptionContext =
      context === undefined || context.size === 0 ? {} : { EncryptionContext: Object.fromEntries(context) };
    try {
      output = await this.#client.send(
        new DecryptCommand({ CiphertextBlob: ciphertext, ...encryptionContext }),
        {
          abortSignal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]),
        },
      );
    } catch (error) {
      throw mapKmsError(error);
    }
    if (output.Plaintext === undefined) {
      throw new TaupageError('SECRET_INVALID', 'KMS returned no plaintext');
    }
    return new Secret(Buffer.from(output.Plaintext).toString('utf8'));
  }

  destroy(): void {
    this.#client.destroy();
  }
}

function mapKmsError(error: unknown): TaupageError {
  const name = error instanceof Error ? error.name : '';
  const known = KMS_ERRORS[name];
  if (known !== undefined) {
    return new TaupageError(known.code, `KMS: ${known.say}`, { cause: error, retriable: known.retriable });
  }
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status !== undefined && status < 500 && status !== 429) {
    return new TaupageError('SECRET_INVALID', `KMS rejected the request (${name || `HTTP ${status}`})`, {
      cause: error,
    });
  }
  // Network errors, timeouts, 5xx: transient.
  return new TaupageError('SECRET_UNAVAILABLE', `KMS did not answer (${name || 'network error'})`, {
    cause: error,
  });
}
