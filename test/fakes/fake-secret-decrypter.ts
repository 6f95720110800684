import type { TaupageError } from '../../src/core/errors.js';
import { Secret } from '../../src/core/secret.js';
import type { SecretDecrypter } from '../../src/secrets/secret-decrypter.js';

/** "Ciphertexts" are the plaintext's bytes reversed; failures can be queued. */
export class FakeSecretDecrypter implements SecretDecrypter {
  failures: TaupageError[] = [];
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;

  static encrypt(plaintext: string): string {
    return `aws:kms:${Buffer.from(plaintext).reverse().toString('base64')}`;
  }

  async decrypt(ciphertext: Buffer): Promise<Secret> {
    this.calls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await Promise.resolve();
      const failure = this.failures.shift();
      if (failure !== undefined) throw failure;
      return new Secret(Buffer.from(ciphertext).reverse().toString('utf8'));
    } finally {
      this.inFlight--;
    }
  }
}
