import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { TaupageError } from '../../../src/core/errors.js';
import { Redactor } from '../../../src/core/redactor.js';
import type { EnvironmentVariable } from '../../../src/config/taupage-config.js';
import { decryptEnvironment, KMS_CONCURRENCY } from '../../../src/secrets/decrypt-environment.js';
import { FakeSecretDecrypter } from '../../fakes/fake-secret-decrypter.js';

const encrypted = (name: string, plaintext: string): EnvironmentVariable => ({
  name,
  value: {
    kind: 'encrypted',
    ciphertext: Buffer.from(FakeSecretDecrypter.encrypt(plaintext).slice(8), 'base64'),
  },
});

function options(decrypter: FakeSecretDecrypter, redactor = new Redactor()) {
  return {
    decrypter,
    clock: systemClock,
    redactor,
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
  };
}

describe('decryptEnvironment', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('decrypts every encrypted value, with bounded concurrency, and registers plaintexts for redaction', async () => {
    const decrypter = new FakeSecretDecrypter();
    const redactor = new Redactor();
    const variables = Array.from({ length: 20 }, (_, index) =>
      encrypted(`SECRET_${index}`, `plaintext-${index}`),
    );
    variables.push({ name: 'PLAIN', value: { kind: 'plain', value: 'x' } });
    const secrets = await decryptEnvironment(variables, options(decrypter, redactor));
    expect(secrets.size).toBe(20);
    expect(secrets.get('SECRET_7')?.reveal()).toBe('plaintext-7');
    expect(decrypter.maxInFlight).toBeLessThanOrEqual(KMS_CONCURRENCY);
    expect(redactor.scrub('leak plaintext-7')).toBe('leak [redacted]');
  });

  it('retries throttling and then succeeds', async () => {
    const decrypter = new FakeSecretDecrypter();
    decrypter.failures = [
      new TaupageError('SECRET_UNAVAILABLE', 'KMS: throttled'),
      new TaupageError('SECRET_UNAVAILABLE', 'KMS: throttled'),
    ];
    const promise = decryptEnvironment([encrypted('DB', 'pw-value')], options(decrypter));
    await vi.runAllTimersAsync();
    expect((await promise).get('DB')?.reveal()).toBe('pw-value');
    expect(decrypter.calls).toBe(3);
  });

  it('fails fast on access denied, naming the variable but not the value', async () => {
    const decrypter = new FakeSecretDecrypter();
    decrypter.failures = [new TaupageError('SECRET_ACCESS_DENIED', 'KMS: access denied')];
    const promise = decryptEnvironment([encrypted('DB_PASSWORD', 'pw-value')], options(decrypter));
    await expect(promise).rejects.toMatchObject({
      code: 'SECRET_ACCESS_DENIED',
      message: 'environment.DB_PASSWORD: KMS: access denied',
    });
    expect(decrypter.calls).toBe(1);
  });
});
