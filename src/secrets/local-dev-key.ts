import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { TaupageError } from '../core/errors.js';
import { Secret } from '../core/secret.js';
import { KMS_PREFIX } from '../config/taupage-config.js';
import type { SecretDecrypter } from './secret-decrypter.js';

/**
 * Local mode's stand-in for KMS: a per-user AES-256-GCM "dev key" in a 0600 file, so `aws:kms:`
 * values work on a laptop (`taupage local encrypt VALUE` makes one). Ciphertexts made with it
 * are useless on EC2 and real KMS ciphertexts are useless here — on purpose.
 */
const MAGIC = Buffer.from('TPL1');
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function defaultDevKeyPath(): string {
  const base = process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  return join(base, 'taupage', 'local-kms.key');
}

export async function loadOrCreateDevKey(path: string): Promise<Buffer> {
  try {
    const key = Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
    if (key.length !== 32)
      throw new TaupageError('CONFIG_INVALID', `Local dev key ${path} is not 32 base64 bytes`);
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = randomBytes(32);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // 'wx': never overwrite a key another process created meanwhile.
  await writeFile(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' }).catch(
    (error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    },
  );
  return Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
}

export function encryptWithDevKey(key: Buffer, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return KMS_PREFIX + Buffer.concat([MAGIC, iv, cipher.getAuthTag(), body]).toString('base64');
}

export class DevKeySecretDecrypter implements SecretDecrypter {
  constructor(private readonly key: Buffer) {}

  decrypt(ciphertext: Buffer): Promise<Secret> {
    const notOurs = (): TaupageError =>
      new TaupageError(
        'SECRET_INVALID',
        'not encrypted with this machine\'s local dev key (make one with "taupage local encrypt VALUE")',
      );
    if (
      ciphertext.length < MAGIC.length + IV_BYTES + TAG_BYTES ||
      !ciphertext.subarray(0, MAGIC.length).equals(MAGIC)
    ) {
      return Promise.reject(notOurs());
    }
    const iv = ciphertext.subarray(MAGIC.length, MAGIC.length + IV_BYTES);
    const tag = ciphertext.subarray(MAGIC.length + IV_BYTES, MAGIC.length + IV_BYTES + TAG_BYTES);
    const body = ciphertext.subarray(MAGIC.length + IV_BYTES + TAG_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
      decipher.setAuthTag(tag);
      return Promise.resolve(
        new Secret(Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8')),
      );
    } catch {
      return Promise.reject(notOurs());
    }
  }
}
