import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Redactor } from '../../../src/core/redactor.js';
import { systemClock } from '../../../src/core/clock.js';
import { decryptConfigSecrets } from '../../../src/secrets/decrypt-config-secrets.js';
import { KmsSecretDecrypter } from '../../../src/secrets/kms-secret-decrypter.js';
import { KmsEmulator } from '../../emulators/kms-emulator.js';

// `encryption_context`: KMS binds the context to the ciphertext, so the agent must send it with
// every Decrypt. The emulator enforces that as KMS does (InvalidCiphertextException), checked
// here with two independent clients: the JS SDK the agent uses, and the AWS CLI (botocore).
const run = promisify(execFile);
const ACCESS = { AWS_ACCESS_KEY_ID: 'AKIDCONTEXT', AWS_SECRET_ACCESS_KEY: 'context-secret' };
let kms: KmsEmulator;
let decrypter: KmsSecretDecrypter;
const signal = new AbortController().signal;
const tempDirs: string[] = [];
const CONTEXT = new Map([
  ['application', 'kio'],
  ['stage', 'live'],
]);

async function awsCli(args: readonly string[]): Promise<string> {
  const { stdout } = await run(
    'aws',
    ['--endpoint-url', kms.url, '--region', 'eu-central-1', '--output', 'json', ...args],
    { env: { ...process.env, ...ACCESS, AWS_PAGER: '' }, timeout: 60_000 },
  );
  return stdout;
}

async function awsCliFailure(args: readonly string[]): Promise<string> {
  try {
    await awsCli(args);
  } catch (error) {
    return String((error as { stderr?: string }).stderr);
  }
  throw new Error('expected the AWS CLI to fail');
}

beforeAll(async () => {
  Object.assign(process.env, ACCESS);
  kms = await KmsEmulator.start({ region: 'eu-central-1' });
  decrypter = new KmsSecretDecrypter({ region: 'eu-central-1', endpoint: kms.url });
});
afterAll(async () => {
  decrypter.destroy();
  await kms.close();
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

describe('KMS encryption context (encryption_context)', () => {
  it('decrypts a value encrypted by the AWS CLI under a context only with that context (real SDK)', async () => {
    const encrypted = JSON.parse(
      await awsCli([
        'kms',
        'encrypt',
        '--key-id',
        kms.defaultKeyId,
        '--plaintext',
        'context-bound-plaintext',
        '--encryption-context',
        'application=kio,stage=live',
      ]),
    ) as { CiphertextBlob: string };
    const blob = Buffer.from(encrypted.CiphertextBlob, 'base64');

    const secret = await decrypter.decrypt(blob, signal, CONTEXT);
    expect(secret.reveal()).toBe('context-bound-plaintext');
    // Order of the pairs does not matter; a missing, extra or different pair does.
    await expect(decrypter.decrypt(blob, signal, new Map([...CONTEXT].reverse()))).resolves.toBeDefined();
    for (const wrong of [
      undefined,
      new Map(),
      new Map([['application', 'kio']]),
      new Map([...CONTEXT, ['x', 'y']]),
    ]) {
      await expect(decrypter.decrypt(blob, signal, wrong)).rejects.toMatchObject({
        code: 'SECRET_INVALID',
        retriable: false,
        message: expect.stringContaining('encryption_context') as unknown,
      });
    }
  });

  it('the AWS CLI meets the same rule: InvalidCiphertextException without the context', async () => {
    const value = kms.encryptForTest('cli-context-plaintext', { context: Object.fromEntries(CONTEXT) });
    const blobFile = `fileb://${await writeBlob(value)}`;
    const decrypted = JSON.parse(
      await awsCli([
        'kms',
        'decrypt',
        '--ciphertext-blob',
        blobFile,
        '--encryption-context',
        'stage=live,application=kio',
      ]),
    ) as { Plaintext: string };
    expect(Buffer.from(decrypted.Plaintext, 'base64').toString('utf8')).toBe('cli-context-plaintext');
    expect(await awsCliFailure(['kms', 'decrypt', '--ciphertext-blob', blobFile])).toContain(
      'InvalidCiphertextException',
    );
    expect(
      await awsCliFailure([
        'kms',
        'decrypt',
        '--ciphertext-blob',
        blobFile,
        '--encryption-context',
        'stage=test,application=kio',
      ]),
    ).toContain('InvalidCiphertextException');
  });

  it('the boot’s decryption sends config.encryption_context with every value', async () => {
    const value = kms.encryptForTest('boot-context-plaintext', { context: Object.fromEntries(CONTEXT) });
    const ciphertext = Buffer.from(value.slice('aws:kms:'.length), 'base64');
    const options = {
      decrypter,
      clock: systemClock,
      redactor: new Redactor(),
      log: pino({ level: 'silent' }),
      signal,
    };
    const encrypted = [{ ciphertext, path: 'environment.DB_PASSWORD', required: true }];
    const { secrets } = await decryptConfigSecrets(encrypted, { ...options, encryptionContext: CONTEXT });
    expect(secrets.get(ciphertext)?.reveal()).toBe('boot-context-plaintext');
    await expect(decryptConfigSecrets(encrypted, options)).rejects.toMatchObject({
      code: 'SECRET_INVALID',
      message: expect.stringMatching(/^environment\.DB_PASSWORD: /) as unknown,
    });
  });
});

async function writeBlob(value: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'taupage-kms-context-'));
  tempDirs.push(dir);
  const file = join(dir, 'blob');
  await writeFile(file, Buffer.from(value.slice('aws:kms:'.length), 'base64'));
  return file;
}
