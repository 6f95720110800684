// Wire-level emulator of AWS KMS (AWS JSON 1.1, `X-Amz-Target: TrentService.<Op>`), spoken to by
// the real @aws-sdk/client-kms. It produces real AES-256-GCM ciphertexts and enforces the API
// rules at least as strictly as KMS does. It never logs anything, least of all plaintexts.
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AwsError, BodyTooLargeError, JsonInput, invalidValue } from './http-util.js';
import { closeServer, listen, readBody, sendJson, verifySigV4 } from './http-util.js';
import type { AcceptedCredential } from './http-util.js';
import type { AwsAccount } from './aws-account.js';

/**
 * Injectable server-side faults, with the status codes of the KMS API Reference ("Errors"
 * sections): KMSInternalException 500, KeyUnavailableException 500, DependencyTimeoutException
 * 500. (The SDK's model carries a legacy awsQueryError trait of 503 for DependencyTimeout; the
 * JSON protocol answer documented for KMS is 500. Either way the SDK classes it as transient.)
 */
export type KmsFaultCode = 'KMSInternalException' | 'DependencyTimeoutException' | 'KeyUnavailableException';

export interface KmsEmulatorOptions {
  region?: string;
  accountId?: string;
  /** Accepted credentials (default: any access key id). With a secret, SigV4 is fully verified. */
  credentials?: ReadonlyArray<AcceptedCredential>;
  /**
   * A shared account: Decrypt and Encrypt take from its symmetric-cryptography bucket (over
   * quota: 400 ThrottlingException, as KMS answers).
   */
  account?: AwsAccount;
}

interface Key {
  id: string;
  arn: string;
  material: Buffer;
  enabled: boolean;
  created: Date;
}

const CONTENT_TYPE = 'application/x-amz-json-1.1';
const ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'SM2PKE'];
// Ciphertext blob: version(1) | key id, a UUID (36 ASCII) | IV (12) | GCM tag (16) | ciphertext.
// The header (version + key id) and the encryption context are the GCM AAD, so swapping the key
// id or the context makes decryption fail instead of silently succeeding.
const VERSION = 1;
const HEADER = 1 + 36;
// Members each operation accepts (from the KMS model); anything else is a SerializationException.
const MEMBERS: Record<string, readonly string[]> = {
  Encrypt: ['KeyId', 'Plaintext', 'EncryptionContext', 'GrantTokens', 'EncryptionAlgorithm', 'DryRun'],
  Decrypt: ['CiphertextBlob', 'KeyId', 'EncryptionContext', 'GrantTokens', 'EncryptionAlgorithm', 'DryRun'],
  CreateKey: ['Description', 'KeyUsage', 'KeySpec', 'CustomerMasterKeySpec', 'Origin', 'Tags', 'MultiRegion'],
  DisableKey: ['KeyId'],
  EnableKey: ['KeyId'],
};

export class KmsEmulator {
  readonly region: string;
  readonly accountId: string;
  readonly defaultKeyId: string;
  /** Authenticated Decrypt requests received, including those failed by an injected fault. */
  decryptCalls = 0;
  maxConcurrentDecrypts = 0;
  /** Latency added to each Decrypt, so that a client's concurrency bound becomes observable. */
  decryptDelayMs = 0;
  /**
   * KMS's clock minus the host's, in ms: the host's wall clock stepped by the opposite. Requests
   * signed more than 5 minutes off fail like AWS's (InvalidSignatureException, "Signature
   * expired"), and every answer's `Date` header gives KMS's time, which the SDK corrects by.
   */
  clockOffsetMs = 0;
  /** Authenticated operation names in arrival order (names only, never payloads). */
  readonly operations: string[] = [];

  private readonly keys = new Map<string, Key>();
  private readonly denied = new Set<string>();
  private readonly faults: Array<{ code: string; status: number }> = [];
  private readonly sleepers = new Set<() => void>();
  private throttledUntil = 0;
  private inFlightDecrypts = 0;
  private readonly account: AwsAccount | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly credentials: ReadonlyArray<AcceptedCredential> | undefined,
    options: KmsEmulatorOptions,
  ) {
    this.region = options.region ?? 'eu-central-1';
    this.accountId = options.accountId ?? '123456789012';
    this.account = options.account;
    this.defaultKeyId = this.createKey();
  }

  static async start(options: KmsEmulatorOptions = {}): Promise<KmsEmulator> {
    // The handler needs the emulator and the emulator needs the server: close the loop by ref.
    const ref: { emulator?: KmsEmulator } = {};
    const { server, url } = await listen(async (req, res) => {
      if (!ref.emulator) throw new Error('not started');
      await ref.emulator.handle(req, res);
    });
    ref.emulator = new KmsEmulator(server, url, options.credentials, options);
    return ref.emulator;
  }

  async close(): Promise<void> {
    for (const wake of this.sleepers) wake();
    await closeServer(this.server);
  }

  /** Creates an enabled symmetric key and returns its key id (a UUID). */
  createKey(): string {
    const id = randomUUID();
    this.keys.set(id, {
      id,
      arn: this.keyArn(id),
      material: randomBytes(32),
      enabled: true,
      created: new Date(),
    });
    return id;
  }

  keyArn(keyId: string): string {
    return `arn:aws:kms:${this.region}:${this.accountId}:key/${keyId}`;
  }

  /** Encrypts exactly as `Encrypt` would and returns the Taupage form `aws:kms:<base64 blob>`. */
  encryptForTest(
    plaintext: string,
    options: { keyId?: string; context?: Record<string, string> } = {},
  ): string {
    const data = Buffer.from(plaintext, 'utf8');
    if (data.length < 1 || data.length > 4096) throw new Error('plaintext must be 1..4096 bytes');
    const key = this.resolveKey(options.keyId ?? this.defaultKeyId);
    return `aws:kms:${this.seal(key, data, options.context ?? {}).toString('base64')}`;
  }

  disableKey(keyId: string): void {
    this.resolveKey(keyId).enabled = false;
  }

  enableKey(keyId: string): void {
    this.resolveKey(keyId).enabled = true;
  }

  /** Decrypt under this key (or any key: '*') fails with AccessDeniedException. */
  denyDecrypt(keyId: string): void {
    this.denied.add(keyId === '*' ? '*' : this.resolveKey(keyId).id);
  }

  allowDecrypt(keyId: string): void {
    this.denied.delete(keyId === '*' ? '*' : this.resolveKey(keyId).id);
  }

  /** The next `count` authenticated requests get 400 ThrottlingException (the SDK retries it). */
  throttleNext(count: number): void {
    for (let i = 0; i < count; i++) this.faults.push({ code: 'ThrottlingException', status: 400 });
  }

  /** Every Decrypt for the next `ms` milliseconds gets 400 ThrottlingException (a quota outage). */
  throttleFor(ms: number): void {
    this.throttledUntil = Date.now() + ms;
  }

  /** The next `count` authenticated requests fail with `code`, HTTP 500 (see KmsFaultCode). */
  failNext(count: number, code: KmsFaultCode): void {
    for (let i = 0; i < count; i++) this.faults.push({ code, status: 500 });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers = {
      'x-amzn-requestid': randomUUID(),
      date: new Date(Date.now() + this.clockOffsetMs).toUTCString(),
    };
    try {
      const body = await readBody(req, 64 * 1024);
      if (req.method !== 'POST' || req.url !== '/') {
        throw new AwsError('UnknownOperationException', 'KMS accepts only POST /');
      }
      verifySigV4(
        req,
        body,
        this.region,
        'kms',
        this.credentials,
        undefined,
        Date.now() + this.clockOffsetMs,
      );
      const target = req.headers['x-amz-target'];
      const op = typeof target === 'string' && target.startsWith('TrentService.') ? target.slice(13) : '';
      const members = Object.hasOwn(MEMBERS, op) ? MEMBERS[op] : undefined; // not 'constructor'…
      if (!members) throw new AwsError('UnknownOperationException', '');
      if (req.headers['content-type'] !== CONTENT_TYPE) {
        throw new AwsError('SerializationException', `Content-Type must be ${CONTENT_TYPE}`);
      }
      this.operations.push(op);
      const result = op === 'Decrypt' ? await this.decrypt(body, req) : this.dispatch(op, body, members, req);
      sendJson(res, 200, result, CONTENT_TYPE, headers);
    } catch (err) {
      const e =
        err instanceof AwsError
          ? err
          : err instanceof BodyTooLargeError
            ? new AwsError('RequestEntityTooLargeException', err.message, 413)
            : new AwsError('KMSInternalException', 'internal error', 500);
      // The JSON 1.1 error shape. The SDK reads the code from __type first, then x-amzn-ErrorType.
      // KMS omits `message` for some errors (e.g. InvalidCiphertextException); so do we.
      const payload = e.message ? { __type: e.code, message: e.message } : { __type: e.code };
      sendJson(res, e.status, payload, CONTENT_TYPE, { ...headers, 'x-amzn-errortype': e.code });
    }
  }

  private takeFault(): void {
    const fault = this.faults.shift();
    if (fault) throw new AwsError(fault.code, `${fault.code} (injected by the emulator)`, fault.status);
  }

  private dispatch(
    op: string,
    body: Buffer,
    members: readonly string[],
    req: IncomingMessage,
  ): Record<string, unknown> {
    this.takeFault();
    if (op === 'Encrypt') this.checkQuota(op, req);
    const input = JsonInput.parse(body, members);
    if (op === 'Encrypt') return this.encrypt(input);
    if (op === 'CreateKey') return this.createKeyOperation(input);
    this.resolveKey(input.string('KeyId', 1, 2048)).enabled = op === 'EnableKey';
    return {};
  }

  private encrypt(input: JsonInput): Record<string, unknown> {
    const key = this.resolveKey(input.string('KeyId', 1, 2048));
    const plaintext = input.blob('Plaintext', 4096);
    const context = input.stringMap('EncryptionContext');
    checkAlgorithmAndGrants(input);
    if (!key.enabled) throw new AwsError('DisabledException', `${key.arn} is disabled.`);
    dryRun(input);
    const sealed = this.seal(key, plaintext, context);
    return {
      CiphertextBlob: sealed.toString('base64'),
      KeyId: key.arn,
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    };
  }

  /** The account's shared symmetric-cryptography quota, with KMS's own throttling answer. */
  private checkQuota(op: string, req: IncomingMessage): void {
    if (this.account?.admit(`kms:${op}`, req, 'kms:symmetric') === false) {
      throw new AwsError(
        'ThrottlingException',
        'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.',
        400,
      );
    }
  }

  private async decrypt(body: Buffer, req: IncomingMessage): Promise<Record<string, unknown>> {
    this.decryptCalls++;
    this.inFlightDecrypts++;
    this.maxConcurrentDecrypts = Math.max(this.maxConcurrentDecrypts, this.inFlightDecrypts);
    try {
      if (this.decryptDelayMs > 0) await this.sleep(this.decryptDelayMs);
      this.takeFault();
      this.checkQuota('Decrypt', req);
      if (Date.now() < this.throttledUntil) throw new AwsError('ThrottlingException', 'Rate exceeded', 400);
      const input = JsonInput.parse(body, MEMBERS['Decrypt'] ?? []);
      const data = input.blob('CiphertextBlob', 6144);
      const context = input.stringMap('EncryptionContext');
      const keyIdParam = input.optionalString('KeyId', 1, 2048);
      checkAlgorithmAndGrants(input);
      const blobKey =
        data.length > HEADER + 28 && data[0] === VERSION
          ? this.keys.get(data.subarray(1, HEADER).toString('latin1'))
          : undefined;
      if (!blobKey) throw new AwsError('InvalidCiphertextException', '');
      if (keyIdParam !== undefined && this.resolveKey(keyIdParam) !== blobKey) {
        throw new AwsError(
          'IncorrectKeyException',
          'The key ID in the request does not identify the key used.',
        );
      }
      if (this.denied.has('*') || this.denied.has(blobKey.id)) {
        throw new AwsError(
          'AccessDeniedException',
          `User is not authorized to perform: kms:Decrypt on resource: ${blobKey.arn} because no identity-based policy allows the kms:Decrypt action`,
        );
      }
      if (!blobKey.enabled) throw new AwsError('DisabledException', `${blobKey.arn} is disabled.`);
      const plaintext = open(blobKey, data, context);
      dryRun(input);
      return {
        KeyId: blobKey.arn,
        Plaintext: plaintext.toString('base64'),
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    } finally {
      this.inFlightDecrypts--;
    }
  }

  private createKeyOperation(input: JsonInput): Record<string, unknown> {
    const description = input.optionalString('Description', 0, 8192) ?? '';
    // Only symmetric encryption keys of KMS origin exist here: refuse the rest rather than fake it.
    const only = [
      ['KeyUsage', 'ENCRYPT_DECRYPT'],
      ['KeySpec', 'SYMMETRIC_DEFAULT'],
      ['CustomerMasterKeySpec', 'SYMMETRIC_DEFAULT'],
      ['Origin', 'AWS_KMS'],
    ] as const;
    for (const [member, supported] of only) {
      const value = input.optionalString(member, 1, 64);
      if (value !== undefined && value !== supported) {
        throw new AwsError(
          'UnsupportedOperationException',
          `${member} ${value} is not supported by the emulator`,
        );
      }
    }
    if (input.get('MultiRegion') === true) throw new AwsError('UnsupportedOperationException', 'MultiRegion');
    const key = this.resolveKey(this.createKey());
    return {
      KeyMetadata: {
        AWSAccountId: this.accountId,
        KeyId: key.id,
        Arn: key.arn,
        CreationDate: key.created.getTime() / 1000, // JSON 1.1 timestamps are epoch seconds
        Enabled: true,
        Description: description,
        KeyUsage: 'ENCRYPT_DECRYPT',
        KeyState: 'Enabled',
        Origin: 'AWS_KMS',
        KeyManager: 'CUSTOMER',
        CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
        KeySpec: 'SYMMETRIC_DEFAULT',
        EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
        MultiRegion: false,
      },
    };
  }

  /** Accepts a key id or a key ARN of this region/account; aliases are not emulated (NotFound). */
  private resolveKey(keyId: string): Key {
    const prefix = `arn:aws:kms:${this.region}:${this.accountId}:key/`;
    const key = this.keys.get(keyId.startsWith(prefix) ? keyId.slice(prefix.length) : keyId);
    if (!key) throw new AwsError('NotFoundException', `Key '${keyId}' does not exist`);
    return key;
  }

  private seal(key: Key, plaintext: Buffer, context: Record<string, string>): Buffer {
    const header = Buffer.concat([Buffer.from([VERSION]), Buffer.from(key.id, 'latin1')]);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.material, iv);
    cipher.setAAD(aad(header, context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([header, iv, cipher.getAuthTag(), ciphertext]);
  }

  /** A timer that close() can cut short, so a pending slow Decrypt never outlives the emulator. */
  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }
}

function open(key: Key, data: Buffer, context: Record<string, string>): Buffer {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.material, data.subarray(HEADER, HEADER + 12));
    decipher.setAAD(aad(data.subarray(0, HEADER), context));
    decipher.setAuthTag(data.subarray(HEADER + 12, HEADER + 28));
    return Buffer.concat([decipher.update(data.subarray(HEADER + 28)), decipher.final()]);
  } catch {
    // Same answer for a tampered blob and a wrong context: like KMS, reveal nothing more.
    throw new AwsError('InvalidCiphertextException', '');
  }
}

/** Header plus a canonical (key-sorted, hence order-independent) encoding of the context. */
function aad(header: Buffer, context: Record<string, string>): Buffer {
  const entries = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.concat([header, Buffer.from(JSON.stringify(entries), 'utf8')]);
}

function checkAlgorithmAndGrants(input: JsonInput): void {
  const algorithm = input.optionalString('EncryptionAlgorithm', 1, 64);
  if (algorithm !== undefined && !ALGORITHMS.includes(algorithm)) {
    throw invalidValue(
      'EncryptionAlgorithm',
      `Member must satisfy enum value set: [${ALGORITHMS.join(', ')}]`,
    );
  }
  if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT') {
    throw new AwsError('InvalidKeyUsageException', `${algorithm} is not valid for a symmetric key`);
  }
  const grants = input.get('GrantTokens');
  if (grants !== undefined && (!Array.isArray(grants) || grants.length > 10)) {
    throw invalidValue('GrantTokens', 'Member must have length less than or equal to 10');
  }
}

/** DryRun=true answers DryRunOperationException (HTTP 412) once every other check has passed. */
function dryRun(input: JsonInput): void {
  if (input.get('DryRun') === true) {
    throw new AwsError('DryRunOperationException', 'The request would have succeeded.', 412);
  }
}
