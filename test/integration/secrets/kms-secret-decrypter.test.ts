import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsSecretDecrypter } from '../../../src/secrets/kms-secret-decrypter.js';
import { KmsEmulator } from '../../emulators/kms-emulator.js';

let kms: KmsEmulator;
let decrypter: KmsSecretDecrypter;
const signal = new AbortController().signal;

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDINTEGRATION';
  process.env.AWS_SECRET_ACCESS_KEY = 'integration-secret';
  kms = await KmsEmulator.start({ region: 'eu-central-1' });
  decrypter = new KmsSecretDecrypter({ region: 'eu-central-1', endpoint: kms.url });
});
afterAll(async () => {
  decrypter.destroy();
  await kms.close();
});

const blob = (value: string) => Buffer.from(value.slice('aws:kms:'.length), 'base64');

describe('KmsSecretDecrypter (real SDK, KMS JSON 1.1 emulator)', () => {
  it('decrypts a real AES-GCM ciphertext into a Secret', async () => {
    const secret = await decrypter.decrypt(blob(kms.encryptForTest('kms-plaintext-1')), signal);
    expect(secret.reveal()).toBe('kms-plaintext-1');
    expect(String(secret)).toBe('[redacted]');
  });

  it('maps AccessDenied to SECRET_ACCESS_DENIED, not retriable', async () => {
    const keyId = kms.createKey();
    kms.denyDecrypt(keyId);
    await expect(
      decrypter.decrypt(blob(kms.encryptForTest('x-plaintext', { keyId })), signal),
    ).rejects.toMatchObject({
      code: 'SECRET_ACCESS_DENIED',
      retriable: false,
    });
  });

  it('maps a tampered ciphertext to SECRET_INVALID', async () => {
    const tampered = blob(kms.encryptForTest('tamper-me'));
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0xff;
    await expect(decrypter.decrypt(tampered, signal)).rejects.toMatchObject({
      code: 'SECRET_INVALID',
      retriable: false,
    });
  });

  it('maps a disabled key to SECRET_KEY_DISABLED', async () => {
    const keyId = kms.createKey();
    const ciphertext = blob(kms.encryptForTest('disabled-key-value', { keyId }));
    kms.disableKey(keyId);
    await expect(decrypter.decrypt(ciphertext, signal)).rejects.toMatchObject({
      code: 'SECRET_KEY_DISABLED',
    });
  });

  it('marks throttling and internal errors retriable', async () => {
    const ciphertext = blob(kms.encryptForTest('throttled-value'));
    kms.throttleNext(1);
    await expect(decrypter.decrypt(ciphertext, signal)).rejects.toMatchObject({
      code: 'SECRET_UNAVAILABLE',
      retriable: true,
    });
    kms.failNext(1, 'KMSInternalException');
    await expect(decrypter.decrypt(ciphertext, signal)).rejects.toMatchObject({
      code: 'SECRET_UNAVAILABLE',
      retriable: true,
    });
    expect((await decrypter.decrypt(ciphertext, signal)).reveal()).toBe('throttled-value');
  });
});
