// Wire-level emulator of the S3 REST API (path-style), spoken to by the real @aws-sdk/client-s3.
// Implements what the audit shipper and its tests use — CreateBucket, PutObject, GetObject,
// ListObjectsV2 — with S3's own checks and error codes: SigV4 (payload hash taken from
// x-amz-content-sha256 and checked against the body, as S3 does), key and bucket name rules,
// the 5 GB single-PUT limit, Content-MD5 and CRC32 checksums, metadata size. XML errors.
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { crc32 } from 'node:zlib';
import { BodyTooLargeError, closeServer, listen, readBody, send } from './http-util.js';
import type { AwsAccount } from './aws-account.js';

export interface S3EmulatorOptions {
  region?: string;
  /** Accepted credentials; with a secret, the signature is recomputed and compared. */
  credentials?: ReadonlyArray<{ accessKeyId: string; secretAccessKey: string }>;
  /** What the emulator buffers; S3's real single-PUT cap (5 GB) is checked on Content-Length first. */
  maxBufferedBytes?: number;
  /** A shared account: S3's per-prefix request rates apply (503 SlowDown, XML). */
  account?: AwsAccount;
}

export interface StoredObject {
  readonly body: Buffer;
  readonly etag: string;
  readonly contentType: string | undefined;
  readonly lastModified: Date;
  /** performance.now() when the PUT was stored: for latency figures. */
  readonly storedAt: number;
  /** The canned ACL sent as x-amz-acl (undefined: none sent). */
  readonly acl: string | undefined;
}

/** An S3 REST error: `<Error><Code>…` with its HTTP status. */
class S3Error extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const MAX_PUT_BYTES = 5 * 1024 ** 3; // single PUT: 5 GB
const MAX_KEY_BYTES = 1024;
const MAX_USER_METADATA_BYTES = 2 * 1024;
const MAX_SKEW_MS = 15 * 60_000; // S3 allows 15 minutes (RequestTimeTooSkewed)
const BUCKET_NAME = /^(?!xn--)(?!.*\.\.)(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const UNSIGNED = 'UNSIGNED-PAYLOAD';
const CANNED_ACLS = new Set([
  'private',
  'public-read',
  'public-read-write',
  'aws-exec-read',
  'authenticated-read',
  'bucket-owner-read',
  'bucket-owner-full-control',
  'log-delivery-write',
]);
const AUTH_RE =
  /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([^/\s,]+)\/([^/\s,]+)\/([^/\s,]+), ?SignedHeaders=([^\s,]+), ?Signature=([0-9a-f]{64})$/;

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
const xmlEscape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** RFC 3986 encoding as SigV4 wants it for query strings. */
const uriEncode = (text: string): string =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export class S3Emulator {
  readonly region: string;
  readonly buckets = new Map<string, Map<string, StoredObject>>();
  /** Authenticated requests as "METHOD /path" (no bodies). */
  readonly requests: string[] = [];
  private readonly faults: Array<{ code: string; status: number }> = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly options: S3EmulatorOptions,
  ) {
    this.region = options.region ?? 'eu-central-1';
  }

  static async start(options: S3EmulatorOptions = {}): Promise<S3Emulator> {
    const ref: { emulator?: S3Emulator } = {};
    const { server, url } = await listen(async (req, res) => {
      if (ref.emulator === undefined) throw new Error('emulator not ready');
      await ref.emulator.handle(req, res);
    });
    ref.emulator = new S3Emulator(server, url, options);
    return ref.emulator;
  }

  async stop(): Promise<void> {
    if (this.server.listening) await closeServer(this.server);
  }

  /**
   * An outage as the client sees a host that is down: the listening socket is closed (new
   * connections are refused) and open keep-alive connections are cut. `online()` listens again
   * on the same port.
   */
  async offline(): Promise<void> {
    await closeServer(this.server);
  }

  async online(): Promise<void> {
    const port = Number(new URL(this.url).port);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  createBucket(name: string): void {
    if (!BUCKET_NAME.test(name)) throw new Error(`invalid bucket name ${name}`);
    if (!this.buckets.has(name)) this.buckets.set(name, new Map());
  }

  /**
   * The next `count` authenticated requests fail with this S3 error (e.g. SlowDown 503; AccessDenied
   * 403, as when the role's policy or the bucket policy does not allow the request).
   */
  injectFault(code: 'SlowDown' | 'InternalError' | 'ServiceUnavailable' | 'AccessDenied', count = 1): void {
    const status = code === 'InternalError' ? 500 : code === 'AccessDenied' ? 403 : 503;
    for (let i = 0; i < count; i++) this.faults.push({ code, status });
  }

  /** Stores an object as a PutObject would (the bucket must exist): test setup without a client. */
  storeObject(bucket: string, key: string, body: string | Buffer, contentType = 'application/json'): void {
    const objects = this.buckets.get(bucket);
    if (objects === undefined) throw new Error(`no bucket ${bucket}`);
    const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    objects.set(key, {
      acl: undefined,
      body: data,
      etag: `"${createHash('md5').update(data).digest('hex')}"`,
      contentType,
      lastModified: new Date(),
      storedAt: performance.now(),
    });
  }

  objects(bucket: string): Map<string, StoredObject> {
    return this.buckets.get(bucket) ?? new Map<string, StoredObject>();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();
    try {
      const declared = Number(req.headers['content-length'] ?? '0');
      if (declared > MAX_PUT_BYTES)
        throw new S3Error(
          'EntityTooLarge',
          'Your proposed upload exceeds the maximum allowed object size.',
          400,
        );
      let body: Buffer;
      try {
        body = await readBody(req, this.options.maxBufferedBytes ?? 64 * 1024 * 1024);
      } catch (error) {
        if (error instanceof BodyTooLargeError)
          throw new S3Error(
            'EntityTooLarge',
            'Your proposed upload exceeds what this emulator buffers.',
            400,
          );
        throw error;
      }
      this.verifySignature(req, body);
      this.requests.push(`${req.method ?? ''} ${(req.url ?? '').split('?')[0] ?? ''}`);
      const fault = this.faults.shift();
      if (fault !== undefined)
        throw new S3Error(
          fault.code,
          fault.code === 'AccessDenied' ? 'Access Denied' : 'Please reduce your request rate.',
          fault.status,
        );
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://s3.local').pathname.slice(1));
      if (this.options.account?.admitS3(req, path) === false)
        throw new S3Error('SlowDown', 'Please reduce your request rate.', 503);
      this.route(req, res, body, requestId);
    } catch (error) {
      const e =
        error instanceof S3Error
          ? error
          : new S3Error('InternalError', 'We encountered an internal error.', 500);
      send(
        res,
        e.status,
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${xmlEscape(e.message)}</Message><RequestId>${requestId}</RequestId></Error>`,
        { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
      );
    }
  }

  private route(req: IncomingMessage, res: ServerResponse, body: Buffer, requestId: string): void {
    const url = new URL(req.url ?? '/', 'http://s3.local');
    const [, bucketName = '', ...keyParts] = url.pathname.split('/');
    const key = decodeURIComponent(keyParts.join('/'));
    const bucket = this.buckets.get(bucketName);
    const headers = { 'x-amz-request-id': requestId };
    if (req.method === 'PUT' && key === '') {
      if (!BUCKET_NAME.test(bucketName))
        throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.', 400);
      if (bucket !== undefined)
        throw new S3Error(
          'BucketAlreadyOwnedByYou',
          'Your previous request to create the named bucket succeeded and you already own it.',
          409,
        );
      this.buckets.set(bucketName, new Map());
      send(res, 200, '', { ...headers, location: `/${bucketName}` });
      return;
    }
    if (bucket === undefined) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404);
    if (req.method === 'PUT') {
      this.putObject(req, bucket, key, body);
      const stored = bucket.get(key);
      send(res, 200, '', { ...headers, etag: stored?.etag ?? '' });
      return;
    }
    if (req.method === 'GET' && key === '' && url.searchParams.get('list-type') === '2') {
      const prefix = url.searchParams.get('prefix') ?? '';
      const keys = [...bucket.keys()]
        .filter((k) => k.startsWith(prefix))
        .sort()
        .slice(0, 1000);
      const contents = keys
        .map((k) => {
          const o = bucket.get(k);
          return o === undefined
            ? ''
            : `<Contents><Key>${xmlEscape(k)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(o.etag)}</ETag><Size>${o.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
        })
        .join('');
      send(
        res,
        200,
        `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${bucketName}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${keys.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`,
        { ...headers, 'content-type': 'application/xml' },
      );
      return;
    }
    if (req.method === 'GET' && key !== '') {
      const object = bucket.get(key);
      if (object === undefined) throw new S3Error('NoSuchKey', 'The specified key does not exist.', 404);
      send(res, 200, object.body, {
        ...headers,
        etag: object.etag,
        'last-modified': object.lastModified.toUTCString(),
        'content-type': object.contentType ?? 'binary/octet-stream',
      });
      return;
    }
    throw new S3Error(
      'NotImplemented',
      'A header or operation you provided implies functionality that is not implemented.',
      501,
    );
  }

  private putObject(
    req: IncomingMessage,
    bucket: Map<string, StoredObject>,
    key: string,
    body: Buffer,
  ): void {
    if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES)
      throw new S3Error('KeyTooLongError', 'Your key is too long', 400);
    const metadataBytes = Object.entries(req.headers)
      .filter(([name]) => name.startsWith('x-amz-meta-'))
      .reduce((sum, [name, value]) => sum + name.length - 'x-amz-meta-'.length + String(value).length, 0);
    if (metadataBytes > MAX_USER_METADATA_BYTES)
      throw new S3Error(
        'MetadataTooLarge',
        'Your metadata headers exceed the maximum allowed metadata size.',
        400,
      );
    const md5 = req.headers['content-md5'];
    if (typeof md5 === 'string' && createHash('md5').update(body).digest('base64') !== md5)
      throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.', 400);
    const crc = req.headers['x-amz-checksum-crc32'];
    if (typeof crc === 'string') {
      const actual = Buffer.alloc(4);
      actual.writeUInt32BE(crc32(body) >>> 0);
      if (actual.toString('base64') !== crc)
        throw new S3Error('BadDigest', 'The CRC32 you specified did not match the calculated checksum.', 400);
    }
    const acl = req.headers['x-amz-acl'];
    if (typeof acl === 'string' && !CANNED_ACLS.has(acl))
      throw new S3Error('InvalidArgument', `Invalid canned ACL: ${acl}`, 400);
    const contentType = req.headers['content-type'];
    bucket.set(key, {
      acl: typeof acl === 'string' ? acl : undefined,
      body,
      etag: `"${createHash('md5').update(body).digest('hex')}"`,
      contentType,
      lastModified: new Date(),
      storedAt: performance.now(),
    });
  }

  /** SigV4 as S3 checks it: header auth only, payload hash from x-amz-content-sha256. */
  private verifySignature(req: IncomingMessage, body: Buffer): void {
    const auth = req.headers.authorization;
    if (auth === undefined) throw new S3Error('AccessDenied', 'Access Denied', 403);
    const m = AUTH_RE.exec(auth);
    if (m === null)
      throw new S3Error('AuthorizationHeaderMalformed', 'The authorization header is malformed.', 400);
    const [
      ,
      akid = '',
      date = '',
      region = '',
      service = '',
      terminator = '',
      signedList = '',
      signature = '',
    ] = m;
    if (region !== this.region)
      throw new S3Error(
        'AuthorizationHeaderMalformed',
        `the region '${region}' is wrong; expecting '${this.region}'`,
        400,
      );
    if (service !== 's3' || terminator !== 'aws4_request')
      throw new S3Error(
        'AuthorizationHeaderMalformed',
        'The authorization header is malformed; incorrect service or terminator.',
        400,
      );
    const amzDate = req.headers['x-amz-date'];
    if (typeof amzDate !== 'string' || !/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date)
      throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header', 403);
    const sent = Date.parse(
      amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
    );
    if (Math.abs(Date.now() - sent) > MAX_SKEW_MS)
      throw new S3Error(
        'RequestTimeTooSkewed',
        'The difference between the request time and the current time is too large.',
        403,
      );
    const payloadHash = req.headers['x-amz-content-sha256'];
    if (typeof payloadHash !== 'string')
      throw new S3Error(
        'InvalidRequest',
        'Missing required header for this request: x-amz-content-sha256',
        400,
      );
    if (payloadHash !== UNSIGNED) {
      if (!/^[0-9a-f]{64}$/.test(payloadHash))
        throw new S3Error(
          'InvalidArgument',
          'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a SHA-256 hex digest (streaming uploads are not emulated)',
          400,
        );
      if (payloadHash !== sha256(body))
        throw new S3Error(
          'XAmzContentSHA256Mismatch',
          "The provided 'x-amz-content-sha256' header does not match what was computed.",
          400,
        );
    }
    const signed = signedList.split(';');
    for (const required of ['host', 'x-amz-content-sha256', 'x-amz-date'])
      if (!signed.includes(required))
        throw new S3Error(
          'AccessDenied',
          `There were headers present in the request which were not signed: ${required}`,
          403,
        );
    const credential = this.options.credentials?.find((c) => c.accessKeyId === akid);
    if (this.options.credentials !== undefined && credential === undefined)
      throw new S3Error(
        'InvalidAccessKeyId',
        'The AWS Access Key Id you provided does not exist in our records.',
        403,
      );
    if (credential === undefined) return;

    const url = new URL(req.url ?? '/', 'http://s3.local');
    const query = [...url.searchParams.entries()]
      .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
      .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    const headerValue = (h: string): string => {
      const v = req.headers[h];
      return (Array.isArray(v) ? v.join(',') : (v ?? '')).trim().replace(/\s+/g, ' ');
    };
    const canonical = [
      req.method ?? '',
      (req.url ?? '/').split('?')[0] ?? '/',
      query,
      signed.map((h) => `${h}:${headerValue(h)}\n`).join(''),
      signedList,
      payloadHash,
    ].join('\n');
    const stringToSign = [
      'AWS4-HMAC-SHA256',
      amzDate,
      `${date}/${region}/s3/aws4_request`,
      sha256(canonical),
    ].join('\n');
    let key = hmac(`AWS4${credential.secretAccessKey}`, date);
    for (const part of [region, 's3', 'aws4_request']) key = hmac(key, part);
    const expected = createHmac('sha256', key).update(stringToSign).digest();
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex')))
      throw new S3Error(
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided.',
        403,
      );
  }
}
