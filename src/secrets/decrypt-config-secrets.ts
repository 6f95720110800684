import pLimit from 'p-limit';
import type { Clock } from '../core/clock.js';
import { isTaupageError, TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import type { Secret } from '../core/secret.js';
import type { ConfigValue, EncryptedValue } from '../config/taupage-config.js';
import type { EncryptionContext, SecretDecrypter } from './secret-decrypter.js';

/**
 * KMS retry policy. Only throttling and service-side errors are retried (see the adapter's
 * table); the original retried throttling 10× from 0.5 s doubling. A fleet scaling out shares
 * the account's Decrypt quota, and throttling then lasts tens of seconds: riding out 30 s of it
 * in-process beats failing (exit 4) and starting the whole boot again. Full jitter from 200 ms,
 * capped at 5 s (a 5 s wait averages 2.5 s), so ~25 attempts fit the 90 s budget.
 */
export const KMS_RETRY_POLICY: RetryPolicy = {
  name: 'kms',
  maxAttempts: 40,
  initialDelayMs: 200,
  maxDelayMs: 5_000,
  multiplier: 2,
  budgetMs: 90_000,
  jitter: true,
};

/** At most this many Decrypt calls in flight: fast boots without a throttling burst. */
export const KMS_CONCURRENCY = 8;

/**
 * The plaintexts of a config's `aws:kms:` values, each in a redacting Secret. Looked up by the
 * ConfigValue itself (by ciphertext), so consumers never deal in paths.
 */
export class ConfigSecrets {
  static readonly EMPTY = new ConfigSecrets(new Map());

  readonly #byCiphertext: ReadonlyMap<string, Secret>;

  constructor(byCiphertext: ReadonlyMap<string, Secret>) {
    this.#byCiphertext = byCiphertext;
  }

  get size(): number {
    return this.#byCiphertext.size;
  }

  /** The plaintext of an encrypted value; undefined for a plain one, or one not decrypted. */
  get(value: ConfigValue | Buffer): Secret | undefined {
    if (Buffer.isBuffer(value)) return this.#byCiphertext.get(value.toString('base64'));
    return value.kind === 'encrypted'
      ? this.#byCiphertext.get(value.ciphertext.toString('base64'))
      : undefined;
  }

  /** A plain value as text, an encrypted one as its Secret (undefined when not decrypted). */
  resolve(value: ConfigValue): string | Secret | undefined {
    return value.kind === 'plain' ? value.value : this.get(value);
  }
}

export interface DecryptOptions {
  readonly decrypter: SecretDecrypter;
  readonly clock: Clock;
  readonly redactor: Redactor;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly policy?: RetryPolicy;
  /** `encryption_context`: sent with every Decrypt (KMS refuses a ciphertext without its context). */
  readonly encryptionContext?: EncryptionContext;
}

export interface DecryptedConfigSecrets {
  readonly secrets: ConfigSecrets;
  /** Values under keys the agent ignores that could not be decrypted (a warning, not a failure). */
  readonly skipped: readonly { readonly paths: readonly string[]; readonly code: string }[];
  /** KMS Decrypt calls made (one per distinct ciphertext). */
  readonly decrypted: number;
}

/**
 * Generic decryption: every `aws:kms:` value anywhere in the config, in parallel with a bound,
 * one Decrypt per distinct ciphertext. Each plaintext is registered with the redactor before
 * anyone can see it. A value the agent uses that cannot be decrypted fails fast, naming its path
 * (never its value); one under a key the agent ignores is only logged and left out.
 */
export async function decryptConfigSecrets(
  values: readonly EncryptedValue[],
  options: DecryptOptions,
): Promise<DecryptedConfigSecrets> {
  const byCiphertext = new Map<string, { ciphertext: Buffer; paths: string[]; required: boolean }>();
  for (const value of values) {
    const id = value.ciphertext.toString('base64');
    const entry = byCiphertext.get(id) ?? { ciphertext: value.ciphertext, paths: [], required: false };
    entry.paths.push(value.path);
    entry.required ||= value.required;
    byCiphertext.set(id, entry);
  }
  const secrets = new Map<string, Secret>();
  const skipped: { paths: string[]; code: string }[] = [];
  if (byCiphertext.size === 0) return { secrets: ConfigSecrets.EMPTY, skipped, decrypted: 0 };

  const failFast = new AbortController();
  const signal = AbortSignal.any([options.signal, failFast.signal]);
  const limit = pLimit(KMS_CONCURRENCY);
  await Promise.all(
    [...byCiphertext].map(([id, entry]) =>
      limit(async () => {
        const where = entry.paths.join(', ');
        try {
          const secret = await retry(
            (_attempt) => options.decrypter.decrypt(entry.ciphertext, signal, options.encryptionContext),
            options.policy ?? KMS_RETRY_POLICY,
            {
              clock: options.clock,
              signal,
              isRetriable: (error) => isTaupageError(error) && error.retriable,
              onRetry: (error, attempt, delayMs) => {
                options.log.warn(
                  { path: where, attempt, delayMs, code: codeOf(error) },
                  'Retrying KMS decrypt',
                );
              },
            },
          );
          options.redactor.register(secret.reveal());
          secrets.set(id, secret);
        } catch (error) {
          if (!entry.required && isTaupageError(error) && !options.signal.aborted) {
            skipped.push({ paths: entry.paths, code: error.code });
            options.log.warn(
              { path: where, code: error.code },
              'Could not decrypt an aws:kms: value under a key taupage ignores; left out',
            );
            return;
          }
          failFast.abort();
          if (isTaupageError(error)) {
            throw new TaupageError(error.code, `${where}: ${error.message}`, {
              cause: error,
              retriable: error.retriable,
            });
          }
          throw error;
        }
      }),
    ),
  ).catch((error: unknown) => {
    limit.clearQueue();
    throw error;
  });
  return { secrets: new ConfigSecrets(secrets), skipped, decrypted: byCiphertext.size };
}

function codeOf(error: unknown): string {
  return isTaupageError(error) ? error.code : 'UNKNOWN';
}
