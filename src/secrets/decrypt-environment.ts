import pLimit from 'p-limit';
import type { Clock } from '../core/clock.js';
import { isTaupageError, TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import type { Secret } from '../core/secret.js';
import type { EnvironmentVariable } from '../config/taupage-config.js';
import type { SecretDecrypter } from './secret-decrypter.js';

/**
 * KMS retry policy. Only throttling and service-side errors are retried (see the adapter's
 * table); the original retried throttling 10× from 0.5 s doubling. A boot should not hang on
 * KMS for minutes: 6 attempts with full jitter from 200 ms, capped at 5 s, inside 30 s.
 */
export const KMS_RETRY_POLICY: RetryPolicy = {
  name: 'kms',
  maxAttempts: 6,
  initialDelayMs: 200,
  maxDelayMs: 5_000,
  multiplier: 2,
  budgetMs: 30_000,
  jitter: true,
};

/** At most this many Decrypt calls in flight: fast boots without a throttling burst. */
export const KMS_CONCURRENCY = 8;

export interface DecryptEnvironmentOptions {
  readonly decrypter: SecretDecrypter;
  readonly clock: Clock;
  readonly redactor: Redactor;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly policy?: RetryPolicy;
}

/**
 * Decrypts every encrypted environment value, in parallel with a bound. Fails fast on the first
 * permanent error with a message naming the variable (never its value); each plaintext is
 * registered with the redactor before anyone can see it.
 */
export async function decryptEnvironment(
  variables: readonly EnvironmentVariable[],
  options: DecryptEnvironmentOptions,
): Promise<Map<string, Secret>> {
  const encrypted = variables.filter((variable) => variable.value.kind === 'encrypted');
  const secrets = new Map<string, Secret>();
  if (encrypted.length === 0) return secrets;
  const failFast = new AbortController();
  const signal = AbortSignal.any([options.signal, failFast.signal]);
  const limit = pLimit(KMS_CONCURRENCY);
  await Promise.all(
    encrypted.map((variable) =>
      limit(async () => {
        if (variable.value.kind !== 'encrypted') return;
        const { ciphertext } = variable.value;
        try {
          const secret = await retry(
            (_attempt) => options.decrypter.decrypt(ciphertext, signal),
            options.policy ?? KMS_RETRY_POLICY,
            {
              clock: options.clock,
              signal,
              isRetriable: (error) => isTaupageError(error) && error.retriable,
              onRetry: (error, attempt, delayMs) => {
                options.log.warn(
                  { variable: variable.name, attempt, delayMs, code: codeOf(error) },
                  'Retrying KMS decrypt',
                );
              },
            },
          );
          options.redactor.register(secret.reveal());
          secrets.set(variable.name, secret);
        } catch (error) {
          failFast.abort();
          if (isTaupageError(error)) {
            throw new TaupageError(error.code, `environment.${variable.name}: ${error.message}`, {
              cause: error,
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
  return secrets;
}

function codeOf(error: unknown): string {
  return isTaupageError(error) ? error.code : 'UNKNOWN';
}
