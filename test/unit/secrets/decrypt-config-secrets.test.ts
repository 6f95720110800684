import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { TaupageError } from '../../../src/core/errors.js';
import { Redactor } from '../../../src/core/redactor.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { ConfigSecrets, decryptConfigSecrets } from '../../../src/secrets/decrypt-config-secrets.js';
import { FakeSecretDecrypter } from '../../fakes/fake-secret-decrypter.js';

const encrypt = (plaintext: string) => FakeSecretDecrypter.encrypt(plaintext);

function configWith(yaml: string) {
  const { validation } = loadConfig(
    Buffer.from(`#taupage-ami-config\nruntime: Docker\nsource: registry.example.org/team/app:1.0\n${yaml}`),
    {},
  );
  if (validation.config === undefined) throw new Error(JSON.stringify(validation.errors));
  return validation.config;
}

function options(decrypter: FakeSecretDecrypter, redactor = new Redactor()) {
  return {
    decrypter,
    clock: systemClock,
    redactor,
    log: pino({ level: 'silent' }),
    signal: new AbortController().signal,
  };
}

describe('decryptConfigSecrets (generic aws:kms: decryption)', () => {
  it('decrypts every aws:kms: value anywhere in the config, once per distinct ciphertext', async () => {
    const config = configWith(
      [
        'environment:',
        `  DB_PASSWORD: "${encrypt('db-secret')}"`,
        `  ALSO_DB: "${encrypt('db-secret')}"`,
        'logging:',
        `  scalyr_account_key: "${encrypt('scalyr-key')}"`,
        'docker:',
        '  log_opt:',
        `    splunk-token: "${encrypt('splunk-token')}"`,
        'my_tool:',
        `  nested: ["${encrypt('tool-secret')}"]`,
        '',
      ].join('\n'),
    );
    expect(config.encryptedValues.map((value) => value.path)).toEqual([
      'environment.DB_PASSWORD',
      'environment.ALSO_DB',
      'logging.scalyr_account_key',
      'docker.log_opt.splunk-token',
      'my_tool.nested[0]',
    ]);
    const decrypter = new FakeSecretDecrypter();
    const redactor = new Redactor();
    const { secrets, decrypted, skipped } = await decryptConfigSecrets(
      config.encryptedValues,
      options(decrypter, redactor),
    );
    expect(decrypted).toBe(4);
    expect(decrypter.calls).toBe(4);
    expect(skipped).toEqual([]);
    const [password] = config.environment;
    expect(password === undefined ? undefined : secrets.resolve(password.value)?.toString()).toBe(
      '[redacted]',
    );
    expect(password === undefined ? undefined : secrets.get(password.value)?.reveal()).toBe('db-secret');
    expect(config.logging?.scalyrAccountKey && secrets.get(config.logging.scalyrAccountKey)?.reveal()).toBe(
      'scalyr-key',
    );
    const token = config.docker.logOptions.get('splunk-token');
    expect(token && secrets.get(token)?.reveal()).toBe('splunk-token');
    expect(redactor.scrub('tool-secret and splunk-token')).toBe('[redacted] and [redacted]');
  });

  it('fails the boot when a value the agent uses cannot be decrypted, naming its paths but not its value', async () => {
    const config = configWith(
      `environment:\n  DB_PASSWORD: "${encrypt('db-secret')}"\n  COPY: "${encrypt('db-secret')}"\n`,
    );
    const decrypter = new FakeSecretDecrypter();
    decrypter.failures = [new TaupageError('SECRET_ACCESS_DENIED', 'KMS: access denied')];
    await expect(decryptConfigSecrets(config.encryptedValues, options(decrypter))).rejects.toMatchObject({
      code: 'SECRET_ACCESS_DENIED',
      message: 'environment.DB_PASSWORD, environment.COPY: KMS: access denied',
    });
  });

  it('only warns about a value under a key the agent ignores', async () => {
    const config = configWith(
      `appdynamics_account_access_key: "${encrypt('appd')}"\nenvironment:\n  A: "${encrypt('a-value')}"\n`,
    );
    expect(config.encryptedValues.map((value) => [value.path, value.required])).toEqual([
      ['appdynamics_account_access_key', false],
      ['environment.A', true],
    ]);
    const decrypter = new FakeSecretDecrypter();
    decrypter.failures = [new TaupageError('SECRET_KEY_DISABLED', 'KMS: key disabled')];
    const { secrets, skipped } = await decryptConfigSecrets(config.encryptedValues, options(decrypter));
    expect(skipped).toEqual([{ paths: ['appdynamics_account_access_key'], code: 'SECRET_KEY_DISABLED' }]);
    const [variable] = config.environment;
    expect(variable && secrets.get(variable.value)?.reveal()).toBe('a-value');
  });

  it('resolves plain values to themselves', () => {
    expect(ConfigSecrets.EMPTY.resolve({ kind: 'plain', value: 'x' })).toBe('x');
    expect(ConfigSecrets.EMPTY.resolve({ kind: 'encrypted', ciphertext: Buffer.from('c') })).toBeUndefined();
  });
});

// Issue 15: KMS throttling for 30 s at boot (a fleet scaling out shares the account's request
// quota) must not fail the boot; before, 6 attempts spanned at most ~6 s.
describe('decryptConfigSecrets under a 30 s KMS throttling', () => {
  it('rides it out and decrypts', async () => {
    let offset = 0;
    const clock = {
      now: () => Date.now() + offset,
      sleep: (ms: number) => {
        offset += ms;
        return Promise.resolve();
      },
    };
    const throttledUntil = clock.now() + 30_000;
    const inner = new FakeSecretDecrypter();
    let attempts = 0;
    const decrypter = {
      decrypt: (ciphertext: Buffer) => {
        attempts++;
        return clock.now() < throttledUntil
          ? Promise.reject(new TaupageError('SECRET_UNAVAILABLE', 'KMS: throttled'))
          : inner.decrypt(ciphertext);
      },
    };
    const config = configWith(`environment:\n  DB_PASSWORD: "${encrypt('db-secret')}"\n`);
    const { secrets } = await decryptConfigSecrets(config.encryptedValues, {
      ...options(inner),
      decrypter,
      clock,
    });
    expect(secrets.size).toBe(1);
    expect(attempts).toBeGreaterThan(6);
  });

  it('keeps a throttled failure retriable after its budget (exit 4, not terminal)', async () => {
    const decrypter = new FakeSecretDecrypter();
    decrypter.failures = [new TaupageError('SECRET_INVALID', 'KMS: skewed clock', { retriable: true })];
    const config = configWith(`environment:\n  DB_PASSWORD: "${encrypt('db-secret')}"\n`);
    await expect(
      decryptConfigSecrets(config.encryptedValues, {
        ...options(decrypter),
        policy: {
          name: 'once',
          maxAttempts: 1,
          initialDelayMs: 0,
          maxDelayMs: 0,
          multiplier: 1,
          jitter: false,
        },
      }),
    ).rejects.toMatchObject({ code: 'SECRET_INVALID', retriable: true, exitCode: 4 });
  });
});
