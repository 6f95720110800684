// Small helpers shared by the wire-level AWS emulators: HTTP plumbing (node:http only, no
// framework, so that what goes over the socket is exactly what we wrote) and AWS SigV4 checking.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Thrown by readBody when the client sends more than the cap; the caller maps it to a status. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Reads the whole request body, refusing to buffer more than `limit` bytes: an emulator must not
 * be the thing that falls over when a client under test misbehaves.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) {
    req.resume(); // drain so the connection stays usable for the error response
    throw new BodyTooLargeError(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw new BodyTooLargeError(limit);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function send(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  headers: Record<string, string> = {},
): void {
  const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { 'content-length': String(payload.length), ...headers });
  res.end(payload);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/json',
  headers: Record<string, string> = {},
): void {
  send(res, status, JSON.stringify(body), { 'content-type': contentType, ...headers });
}

/**
 * Starts a server on 127.0.0.1 with an ephemeral port (never a fixed one: tests run in parallel
 * and on shared CI hosts). Handler rejections become a bare 500 rather than an unhandled rejection.
 */
export async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<{ server: Server; url: string }> {
  const listener: RequestListener = (req, res) => {
    handler(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal emulator error', { 'content-type': 'text/plain' });
      else res.destroy();
    });
  };
  const server = createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}` };
}

/** Closes the server and every open (keep-alive) connection, so close() never hangs a test. */
export async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve, reject) => {
    server.close((err) => {
      if (err) reject(err);
      else resolve();
    });
  });
  server.closeAllConnections();
  await closed;
}

/** An AWS JSON-protocol error: becomes `{"__type": code, "message": ...}` with `status`. */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = code;
  }
}

export interface AcceptedCredential {
  accessKeyId: string;
  secretAccessKey?: string;
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
const AUTH_RE =
  /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/([^/\s,]*)\/([^/\s,]*)\/([^/\s,]*)\/([^/\s,]*), ?SignedHeaders=([^\s,]+), ?Signature=([0-9a-f]{64})$/;
const MAX_SKEW_MS = 5 * 60_000; // SigV4: the request must arrive within 5 minutes of X-Amz-Date

/**
 * Checks an AWS Signature Version 4 `Authorization` header the way AWS front ends do, with their
 * error codes: scope (date/region/service/terminator), clock skew, signed-header coverage, and —
 * when the secret of the access key is known — the signature itself.
 */
export function verifySigV4(
  req: IncomingMessage,
  body: Buffer,
  region: string,
  service: string,
  accepted: ReadonlyArray<AcceptedCredential> | undefined,
  /** Headers the signature must cover besides host and x-amz-date (JSON protocols: x-amz-target). */
  protocolHeaders: readonly string[] = ['x-amz-target'],
  /** The service's clock (ms since the epoch): a test may set it apart from the host's. */
  now: number = Date.now(),
): void {
  const auth = req.headers.authorization;
  if (auth === undefined)
    throw new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = AUTH_RE.exec(auth);
  if (!m) {
    throw new AwsError(
      'IncompleteSignatureException',
      "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
    );
  }
  const [
    ,
    akid = '',
    date = '',
    scopeRegion = '',
    scopeService = '',
    terminator = '',
    signedList = '',
    sig = '',
  ] = m;
  const amzDate = req.headers['x-amz-date'];
  if (typeof amzDate !== 'string' || !/^\d{8}T\d{6}Z$/.test(amzDate)) {
    throw new AwsError(
      'IncompleteSignatureException',
      "Authorization header requires existence of a 'X-Amz-Date' header.",
    );
  }
  const invalid = (message: string): AwsError => new AwsError('InvalidSignatureException', message);
  if (date !== amzDate.slice(0, 8))
    throw invalid(
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${date}' != '${amzDate.slice(0, 8)}'`,
    );
  if (scopeRegion !== region)
    throw invalid(`Credential should be scoped to a valid region, not '${scopeRegion}'.`);
  if (scopeService !== service)
    throw invalid(`Credential should be scoped to correct service: '${service}'.`);
  if (terminator !== 'aws4_request')
    throw invalid(
      `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator}'.`,
    );
  const sent = Date.parse(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
  );
  if (now - sent > MAX_SKEW_MS)
    throw invalid(`Signature expired: ${amzDate} is now earlier than the allowed window.`);
  if (sent - now > MAX_SKEW_MS)
    throw invalid(`Signature not yet current: ${amzDate} is still later than the allowed window.`);

  const signed = signedList.split(';');
  const sorted = [...new Set(signed)].sort();
  if (signed.join(';') !== sorted.join(';'))
    throw invalid('SignedHeaders must be lowercase, sorted and unique.');
  for (const required of ['host', 'x-amz-date', ...protocolHeaders, 'x-amz-security-token']) {
    const mustSign = required !== 'x-amz-security-token' || req.headers[required] !== undefined;
    if (mustSign && !signed.includes(required)) throw invalid(`'${required}' must be a signed header.`);
  }
  if (signed.some((h) => req.headers[h] === undefined))
    throw invalid('A signed header is missing from the request.');

  const credential = accepted?.find((c) => c.accessKeyId === akid);
  if (accepted && !credential) {
    throw new AwsError(
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    );
  }
  if (credential?.secretAccessKey === undefined) return; // accepted without recomputing the signature

  const headerValue = (h: string): string => {
    const v = req.headers[h];
    return (Array.isArray(v) ? v.join(',') : (v ?? '')).trim().replace(/\s+/g, ' ');
  };
  const [path = '/', query = ''] = (req.url ?? '/').split('?');
  const canonicalQuery = query.split('&').filter(Boolean).sort().join('&');
  const canonicalRequest = [
    req.method ?? '',
    path,
    canonicalQuery,
    signed.map((h) => `${h}:${headerValue(h)}\n`).join(''),
    signedList,
    sha256(body),
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${credential.secretAccessKey}`, date);
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  const expected = createHmac('sha256', key).update(stringToSign).digest();
  if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) {
    throw invalid(
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
}

/**
 * A parsed AWS JSON 1.1 request body with the service-side validation rules: unknown members and
 * wrong JSON types are SerializationException, constraint violations ValidationException with
 * AWS's message format. Messages never echo member values (they may be secrets).
 */
export class JsonInput {
  private constructor(private readonly input: Record<string, unknown>) {}

  static parse(body: Buffer, members: readonly string[]): JsonInput {
    let input: unknown;
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      throw new AwsError('SerializationException', 'Request body is not valid JSON');
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new AwsError('SerializationException', 'Request body must be a JSON object');
    }
    const unknown = Object.keys(input).find((k) => !members.includes(k));
    if (unknown) throw new AwsError('SerializationException', `Unexpected member '${unknown}'`);
    return new JsonInput(input as Record<string, unknown>);
  }

  get(member: string): unknown {
    return this.input[member] ?? undefined;
  }

  string(member: string, min: number, max: number): string {
    const value = this.optionalString(member, min, max);
    if (value === undefined) throw invalidValue(member, 'Member must not be null');
    return value;
  }

  optionalString(member: string, min: number, max: number): string | undefined {
    const value = this.get(member);
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw new AwsError('SerializationException', `${member} must be a string`);
    if (value.length < min)
      throw invalidValue(member, `Member must have length greater than or equal to ${min}`);
    if (value.length > max)
      throw invalidValue(member, `Member must have length less than or equal to ${max}`);
    return value;
  }

  /** A required blob member (base64 on the wire) of 1..max bytes. */
  blob(member: string, max: number): Buffer {
    const encoded = this.string(member, 0, Number.MAX_SAFE_INTEGER);
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(encoded)) {
      throw new AwsError('SerializationException', `${member} is not valid base64`);
    }
    const data = Buffer.from(encoded, 'base64');
    if (data.length < 1) throw invalidValue(member, 'Member must have length greater than or equal to 1');
    if (data.length > max) throw invalidValue(member, `Member must have length less than or equal to ${max}`);
    return data;
  }

  stringMap(member: string): Record<string, string> {
    const value = this.get(member);
    if (value === undefined) return {};
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new AwsError('SerializationException', `${member} must be a map of strings`);
    }
    if (Object.values(value).some((v) => typeof v !== 'string')) {
      throw new AwsError('SerializationException', `${member} must be a map of strings`);
    }
    return value as Record<string, string>;
  }
}

export function invalidValue(member: string, constraint: string): AwsError {
  const field = member.charAt(0).toLowerCase() + member.slice(1);
  return new AwsError(
    'ValidationException',
    `1 validation error detected: Value at '${field}' failed to satisfy constraint: ${constraint}`,
  );
}
