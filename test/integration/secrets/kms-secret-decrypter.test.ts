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

// Issue 15: the host's wall clock an hour off (stepped, or not yet synced at boot). KMS refuses
// the first request (InvalidSignatureException: signature expired); the SDK learns KMS's time
// from the answer's Date header, so the next attempt is signed right. That refusal is therefore
// retriable: before, it was SECRET_INVALID, not retried, and the boot ended with exit 3.
describe('KmsSecretDecrypter with the host clock an hour off', () => {
  it.each([
    ['behind', 3_600_000],
    ['ahead', -3_600_000],
  ])('marks the skew refusal retriable, and the retry decrypts (host %s)', async (_label, offset) => {
    const skewed = new KmsSecretDecrypter({ region: 'eu-central-1', endpoint: kms.url });
    kms.clockOffsetMs = offset;
    try {
      const ciphertext = blob(kms.encryptForTest('skewed-clock-value'));
      await expect(skewed.decrypt(ciphertext, signal)).rejects.toMatchObject({
        code: 'SECRET_UNAVAILABLE',
        retriable: true,
      });
      expect((await skewed.decrypt(ciphertext, signal)).reveal()).toBe('skewed-clock-value');
    } finally {
      kms.clockOffsetMs = 0;
      skewed.destroy();
    }
  });
});
