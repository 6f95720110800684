import {
  CreateKeyCommand,
  DecryptCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  KMSClient,
  ListKeysCommand,
} from '@aws-sdk/client-kms';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KmsEmulator } from '../../emulators/kms-emulator.js';

// The real @aws-sdk/client-kms against the emulator: signing, serialisation, error parsing and
// retries are the SDK's own, so these tests pin the wire format the agent will meet.
let kms: KmsEmulator;
const clients: KMSClient[] = [];

function client(options: { region?: string; maxAttempts?: number; secret?: string; akid?: string } = {}) {
  const c = new KMSClient({
    region: options.region ?? 'eu-central-1',
    endpoint: kms.url,
    credentials: { accessKeyId: options.akid ?? 'AKIDTEST', secretAccessKey: options.secret ?? 'x' },
    maxAttempts: options.maxAttempts ?? 1,
  });
  clients.push(c);
  return c;
}

/** Runs `fn`, which must reject, and returns the SDK error for inspection. */
async function failure(
  fn: () => Promise<unknown>,
): Promise<{ name: string; message: string; status?: number }> {
  try {
    await fn();
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return {
      name: e.name,
      message: e.message,
      ...(e.$metadata?.httpStatusCode ? { status: e.$metadata.httpStatusCode } : {}),
    };
  }
  throw new Error('expected the call to fail');
}

const blobOf = (taupageValue: string): Buffer => Buffer.from(taupageValue.replace(/^aws:kms:/, ''), 'base64');
const text = (data: Uint8Array | undefined): string => Buffer.from(data ?? []).toString('utf8');

beforeEach(async () => {
  kms = await KmsEmulator.start();
});

afterEach(async () => {
  vi.restoreAllMocks();
  for (const c of clients.splice(0)) c.destroy();
  await kms.close();
});

describe('KmsEmulator', () => {
  it('round-trips Encrypt → Decrypt through the SDK, binding the encryption context', async () => {
    const c = client();
    const context = { app: 'demo', stage: 'test' };
    const enc = await c.send(
      new EncryptCommand({
        KeyId: kms.defaultKeyId,
        Plaintext: Buffer.from('hunter2'),
        EncryptionContext: context,
      }),
    );
    expect(enc.KeyId).toBe(kms.keyArn(kms.defaultKeyId));
    expect(enc.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT');
    expect(enc.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const dec = await c.send(
      new DecryptCommand({
        CiphertextBlob: enc.CiphertextBlob,
        EncryptionContext: { stage: 'test', app: 'demo' },
      }),
    );
    expect(text(dec.Plaintext)).toBe('hunter2');
    expect(dec.KeyId).toBe(kms.keyArn(kms.defaultKeyId));
    expect(dec.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT');
  });

  it('produces fresh ciphertexts (random IV) for the same plaintext', () => {
    expect(kms.encryptForTest('same')).not.toBe(kms.encryptForTest('same'));
  });

  it('encryptForTest output (aws:kms:…) decrypts via the SDK, with and without KeyId', async () => {
    const value = kms.encryptForTest('db-password');
    expect(value).toMatch(/^aws:kms:[A-Za-z0-9+/]+=*$/);
    const c = client();
    const dec = await c.send(new DecryptCommand({ CiphertextBlob: blobOf(value) }));
    expect(text(dec.Plaintext)).toBe('db-password');
    const byArn = await c.send(
      new DecryptCommand({ CiphertextBlob: blobOf(value), KeyId: kms.keyArn(kms.defaultKeyId) }),
    );
    expect(text(byArn.Plaintext)).toBe('db-password');
  });

  it('rejects tampered and garbage ciphertexts with InvalidCiphertextException (400)', async () => {
    const blob = blobOf(kms.encryptForTest('secret'));
    blob[blob.length - 1] = (blob[blob.length - 1] ?? 0) ^ 0x01;
    const c = client();
    expect(await failure(() => c.send(new DecryptCommand({ CiphertextBlob: blob })))).toMatchObject({
      name: 'InvalidCiphertextException',
      status: 400,
    });
    const garbage = Buffer.from('not a kms ciphertext at all');
    expect((await failure(() => c.send(new DecryptCommand({ CiphertextBlob: garbage })))).name).toBe(
      'InvalidCiphertextException',
    );
  });

  it('rejects a wrong or missing encryption context with InvalidCiphertextException', async () => {
    const blob = blobOf(kms.encryptForTest('secret', { context: { app: 'demo' } }));
    const c = client();
    const wrong = await failure(() =>
      c.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { app: 'x' } })),
    );
    expect(wrong.name).toBe('InvalidCiphertextException');
    expect((await failure(() => c.send(new DecryptCommand({ CiphertextBlob: blob })))).name).toBe(
      'InvalidCiphertextException',
    );
  });

  it('checks a given KeyId against the ciphertext: IncorrectKeyException / NotFoundException', async () => {
    const other = kms.createKey();
    const blob = blobOf(kms.encryptForTest('secret'));
    const c = client();
    expect(
      (await failure(() => c.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: other })))).name,
    ).toBe('IncorrectKeyException');
    const missing = '00000000-0000-4000-8000-000000000000';
    expect(
      (await failure(() => c.send(new DecryptCommand({ CiphertextBlob: blob, KeyId: missing })))).name,
    ).toBe('NotFoundException');
  });

  it('refuses a disabled key with DisabledException until it is enabled again (SDK ops)', async () => {
    const c = client();
    const created = await c.send(new CreateKeyCommand({ Description: 'test key' }));
    const keyId = created.KeyMetadata?.KeyId ?? '';
    expect(created.KeyMetadata).toMatchObject({ KeyState: 'Enabled', KeySpec: 'SYMMETRIC_DEFAULT' });
    expect(created.KeyMetadata?.CreationDate).toBeInstanceOf(Date);
    const blob = blobOf(kms.encryptForTest('secret', { keyId }));
    await c.send(new DisableKeyCommand({ KeyId: keyId }));
    expect(await failure(() => c.send(new DecryptCommand({ CiphertextBlob: blob })))).toMatchObject({
      name: 'DisabledException',
      status: 400,
    });
    await c.send(new EnableKeyCommand({ KeyId: keyId }));
    expect(text((await c.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext)).toBe('secret');
    kms.disableKey(keyId);
    expect((await failure(() => c.send(new DecryptCommand({ CiphertextBlob: blob })))).name).toBe(
      'DisabledException',
    );
  });

  it('denyDecrypt makes Decrypt fail with AccessDeniedException', async () => {
    const blob = blobOf(kms.encryptForTest('secret'));
    kms.denyDecrypt('*');
    const c = client();
    expect(await failure(() => c.send(new DecryptCommand({ CiphertextBlob: blob })))).toMatchObject({
      name: 'AccessDeniedException',
      status: 400,
    });
    kms.allowDecrypt('*');
    kms.denyDecrypt(kms.defaultKeyId);
    expect((await failure(() => c.send(new DecryptCommand({ CiphertextBlob: blob })))).name).toBe(
      'AccessDeniedException',
    );
  });

  it('surfaces ThrottlingException with maxAttempts 1 and recovers with SDK retries', async () => {
    const blob = blobOf(kms.encryptForTest('secret'));
    kms.throttleNext(1);
    expect(await failure(() => client().send(new DecryptCommand({ CiphertextBlob: blob })))).toMatchObject({
      name: 'ThrottlingException',
      status: 400,
    });
    kms.throttleNext(1);
    const dec = await client({ maxAttempts: 3 }).send(new DecryptCommand({ CiphertextBlob: blob }));
    expect(text(dec.Plaintext)).toBe('secret');
    expect(dec.$metadata.attempts).toBe(2);
    expect(kms.decryptCalls).toBe(3);
  });

  it.each(['KMSInternalException', 'DependencyTimeoutException', 'KeyUnavailableException'] as const)(
    'failNext(%s) answers HTTP 500',
    async (code) => {
      kms.failNext(1, code);
      const blob = blobOf(kms.encryptForTest('secret'));
      expect(await failure(() => client().send(new DecryptCommand({ CiphertextBlob: blob })))).toMatchObject({
        name: code,
        status: 500,
      });
    },
  );

  it('rejects a request signed for another region or with an unknown operation', async () => {
    const wrongRegion = await failure(() => client({ region: 'us-east-1' }).send(new ListKeysCommand({})));
    expect(wrongRegion).toMatchObject({ name: 'InvalidSignatureException', status: 400 });
    expect(wrongRegion.message).toContain('region');
    expect(await failure(() => client().send(new ListKeysCommand({})))).toMatchObject({
      name: 'UnknownOperationException',
      status: 400,
    });
  });

  it('verifies signatures and access keys when credentials are configured', async () => {
    await kms.close();
    kms = await KmsEmulator.start({ credentials: [{ accessKeyId: 'AKIDTEST', secretAccessKey: 'x' }] });
    const blob = blobOf(kms.encryptForTest('secret'));
    expect(text((await client().send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext)).toBe(
      'secret',
    );
    expect(
      (await failure(() => client({ secret: 'y' }).send(new DecryptCommand({ CiphertextBlob: blob })))).name,
    ).toBe('InvalidSignatureException');
    expect(
      (await failure(() => client({ akid: 'AKIDOTHER' }).send(new DecryptCommand({ CiphertextBlob: blob }))))
        .name,
    ).toBe('UnrecognizedClientException');
  });

  it('rejects a skewed clock as "Signature expired"; the SDK corrects its clock and retries', async () => {
    const blob = blobOf(kms.encryptForTest('secret'));
    const skewed = (maxAttempts: number) => {
      const c = new KMSClient({
        region: 'eu-central-1',
        endpoint: kms.url,
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'x' },
        maxAttempts,
        systemClockOffset: -10 * 60_000,
      });
      clients.push(c);
      return c;
    };
    const expired = await failure(() => skewed(1).send(new DecryptCommand({ CiphertextBlob: blob })));
    expect(expired.name).toBe('InvalidSignatureException');
    expect(expired.message).toMatch(/^Signature expired/);
    const dec = await skewed(2).send(new DecryptCommand({ CiphertextBlob: blob }));
    expect(text(dec.Plaintext)).toBe('secret');
  });

  it('enforces the plaintext (4096) and ciphertext (6144) size limits with ValidationException', async () => {
    const c = client();
    const big = await failure(() =>
      c.send(new EncryptCommand({ KeyId: kms.defaultKeyId, Plaintext: Buffer.alloc(4097) })),
    );
    expect(big).toMatchObject({ name: 'ValidationException', status: 400 });
    expect(big.message).toContain('4096');
    const hugeBlob = Buffer.alloc(6145, 1);
    expect((await failure(() => c.send(new DecryptCommand({ CiphertextBlob: hugeBlob })))).name).toBe(
      'ValidationException',
    );
    const ok = await c.send(
      new EncryptCommand({ KeyId: kms.defaultKeyId, Plaintext: Buffer.alloc(4096, 7) }),
    );
    expect(ok.CiphertextBlob?.length).toBeLessThanOrEqual(6144);
  });

  it('tracks concurrent in-flight Decrypts', async () => {
    const blob = blobOf(kms.encryptForTest('secret'));
    const c = client();
    await c.send(new DecryptCommand({ CiphertextBlob: blob }));
    await c.send(new DecryptCommand({ CiphertextBlob: blob }));
    expect(kms.maxConcurrentDecrypts).toBe(1);
    kms.decryptDelayMs = 300;
    await Promise.all(Array.from({ length: 4 }, () => c.send(new DecryptCommand({ CiphertextBlob: blob }))));
    expect(kms.maxConcurrentDecrypts).toBe(4);
    expect(kms.decryptCalls).toBe(6);
  });

  it('speaks the JSON 1.1 error shape on the wire and refuses unsigned requests', async () => {
    const res = await fetch(kms.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.Decrypt' },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    expect(res.headers.get('content-type')).toBe('application/x-amz-json-1.1');
    expect(await res.json()).toEqual({
      __type: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    });
  });

  it('never writes plaintexts (or anything) to stdout/stderr', async () => {
    const c = client();
    // Warm up first: the SDK's own one-time Node-version warning must not count against us.
    await c.send(new EncryptCommand({ KeyId: kms.defaultKeyId, Plaintext: Buffer.from('warm-up') }));
    await new Promise((resolve) => setImmediate(resolve));
    const out = vi.spyOn(process.stdout, 'write');
    const err = vi.spyOn(process.stderr, 'write');
    const logs = ['log', 'info', 'warn', 'error', 'debug'].map((m) => vi.spyOn(console, m as 'log'));
    const enc = await c.send(
      new EncryptCommand({ KeyId: kms.defaultKeyId, Plaintext: Buffer.from('TOP-SECRET') }),
    );
    await c.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }));
    await failure(() =>
      c.send(new EncryptCommand({ KeyId: kms.defaultKeyId, Plaintext: Buffer.alloc(5000, 65) })),
    );
    for (const spy of [out, err, ...logs]) expect(spy).not.toHaveBeenCalled();
  });
});
