// KMS at fleet scale (docs/fleet.md): at most one Decrypt per distinct ciphertext, however many
// keys hold it, and throttling ridden out with jittered retries (no extra Decrypt per path).
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/core/redactor.js';
import { decryptConfigSecrets } from '../../../src/secrets/decrypt-config-secrets.js';
import { KmsSecretDecrypter } from '../../../src/secrets/kms-secret-decrypter.js';
import { KmsEmulator } from '../../emulators/kms-emulator.js';
import { cappedClock } from '../../support/capped-clock.js';
import { ThrottlingProxy } from '../../support/throttling-proxy.js';

let kms: KmsEmulator;
let proxy: ThrottlingProxy;
let decrypter: KmsSecretDecrypter;

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDKMSBUDGET';
  process.env.AWS_SECRET_ACCESS_KEY = 'kms-budget-secret';
  kms = await KmsEmulator.start();
  proxy = await ThrottlingProxy.start({ upstream: kms.url, protocol: 'json' });
  decrypter = new KmsSecretDecrypter({ region: kms.region, endpoint: proxy.url });
});
afterAll(async () => {
  decrypter.destroy();
  await proxy.close();
  await kms.close();
});

const ciphertextOf = (value: string): Buffer => Buffer.from(value.slice('aws:kms:'.length), 'base64');

describe('KMS Decrypt call budget', () => {
  it('decrypts each distinct ciphertext once, however many keys hold it, also while throttled', async () => {
    const shared = ciphertextOf(kms.encryptForTest('shared-password'));
    const other = ciphertextOf(kms.encryptForTest('other-password'));
    const third = ciphertextOf(kms.encryptForTest('third-password'));
    const values = [
      { path: 'environment.DB_PASSWORD', ciphertext: shared, required: true },
      { path: 'environment.DB_PASSWORD_COPY', ciphertext: shared, required: true },
      { path: 'logging.scalyr_account_key', ciphertext: shared, required: false },
      { path: 'environment.API_KEY', ciphertext: other, required: true },
      { path: 'environment.TOKEN', ciphertext: third, required: true },
      { path: 'environment.TOKEN_AGAIN', ciphertext: Buffer.from(third), required: true },
    ];
    const decryptsBefore = kms.operations.filter((op) => op === 'Decrypt').length;
    proxy.throttleNext(5);
    const { secrets, decrypted } = await decryptConfigSecrets(values, {
      decrypter,
      clock: cappedClock(10),
      redactor: new Redactor(),
      log: pino({ level: 'silent' }),
      signal: new AbortController().signal,
    });
    expect(decrypted).toBe(3);
    expect(kms.operations.filter((op) => op === 'Decrypt').length - decryptsBefore).toBe(3);
    expect(proxy.throttled.Decrypt).toBe(5);
    expect(secrets.get(shared)?.reveal()).toBe('shared-password');
    expect(secrets.get(third)?.reveal()).toBe('third-password');
  });
});
