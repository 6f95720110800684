// zalando-stups/log-sink, the original's instance_logs_url, on the wire: `POST /instance-logs`
// (application/json only, Spring's @RequestMapping(consumes=...)), HTTP Basic auth (Spring
// Security: 401 with a Basic challenge), body `TaupageLogData` {account_id, region,
// instance_boot_time, instance_id, log_data, log_type}, answered 201 Created. Fullstop behind it
// stores USER_DATA as taupage.yaml and AUDIT_LOG as audit-log-<ts>.log.gz; this keeps both,
// decoded. Stricter than the real one where that catches client bugs: every field must be a
// non-empty string, log_data strict base64, log_type one of the two the agent sends, AUDIT_LOG gzip.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { BodyTooLargeError, readBody, send, sendJson } from './http-util.js';

/** Tomcat's default is 2 MB for forms; JSON is not capped there. 10 MB keeps the emulator safe. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const FIELDS = ['account_id', 'region', 'instance_boot_time', 'instance_id', 'log_data', 'log_type'] as const;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export interface ReceivedLog {
  readonly accountId: string;
  readonly region: string;
  readonly instanceBootTime: string;
  readonly instanceId: string;
  readonly logType: 'USER_DATA' | 'AUDIT_LOG';
  /** Decoded (and for AUDIT_LOG gunzipped) text. */
  readonly text: string;
  /** The raw request body, to check that no secret travelled anywhere in it. */
  readonly rawBody: string;
}

export class LogSinkEmulator {
  readonly received: ReceivedLog[] = [];
  /** Requests refused (any status but 201), for assertions. */
  readonly refused: Array<{ status: number; reason: string }> = [];
  #failures: number[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly credentials: { username: string; password: string },
  ) {}

  static async start(credentials: { username: string; password: string }): Promise<LogSinkEmulator> {
    const handler: { emulator?: LogSinkEmulator } = {};
    const server = createServer((req, res) => {
      void handler.emulator?.handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    handler.emulator = new LogSinkEmulator(server, `http://127.0.0.1:${port}/instance-logs`, credentials);
    return handler.emulator;
  }

  /** The next requests (with valid auth and body) are answered with these statuses, in order. */
  failNext(...statuses: number[]): void {
    this.#failures.push(...statuses);
  }

  of(type: 'USER_DATA' | 'AUDIT_LOG'): ReceivedLog[] {
    return this.received.filter((log) => log.logType === type);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  private refuse(res: ServerResponse, status: number, reason: string, headers: Record<string, string> = {}) {
    this.refused.push({ status, reason });
    sendJson(res, status, { status, title: reason }, 'application/problem+json', headers);
  }

  private authorized(header: string | undefined): boolean {
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
    if (match?.[1] === undefined) return false;
    const given = Buffer.from(match[1], 'base64');
    const expected = Buffer.from(`${this.credentials.username}:${this.credentials.password}`);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/instance-logs') {
      this.refuse(res, 404, 'Not Found');
      req.resume();
      return;
    }
    if (!this.authorized(req.headers.authorization)) {
      req.resume();
      this.refuse(res, 401, 'Unauthorized', { 'www-authenticate': 'Basic realm="Realm"' });
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      this.refuse(res, 405, 'Method Not Allowed', { allow: 'POST' });
      return;
    }
    if (!/^application\/json(?:;|$)/i.test(req.headers['content-type'] ?? '')) {
      req.resume();
      this.refuse(res, 415, 'Unsupported Media Type');
      return;
    }
    let raw: string;
    try {
      raw = (await readBody(req, MAX_BODY_BYTES)).toString('utf8');
    } catch (error) {
      this.refuse(res, error instanceof BodyTooLargeError ? 413 : 400, 'Bad Request');
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      this.refuse(res, 400, 'Bad Request: not JSON');
      return;
    }
    for (const field of FIELDS)
      if (typeof body[field] !== 'string' || body[field] === '') {
        this.refuse(res, 400, `Bad Request: ${field} missing`);
        return;
      }
    const logType = body.log_type;
    const data = body.log_data as string;
    if (logType !== 'USER_DATA' && logType !== 'AUDIT_LOG') {
      this.refuse(res, 400, 'Bad Request: unknown log_type');
      return;
    }
    if (!STRICT_BASE64.test(data)) {
      this.refuse(res, 400, 'Bad Request: log_data is not base64');
      return;
    }
    let text: string;
    try {
      const bytes = Buffer.from(data, 'base64');
      text = (logType === 'AUDIT_LOG' ? gunzipSync(bytes) : bytes).toString('utf8');
    } catch {
      this.refuse(res, 400, 'Bad Request: AUDIT_LOG is not gzip');
      return;
    }
    const failure = this.#failures.shift();
    if (failure !== undefined) {
      this.refuse(res, failure, 'Injected failure');
      return;
    }
    this.received.push({
      accountId: body.account_id as string,
      region: body.region as string,
      instanceBootTime: body.instance_boot_time as string,
      instanceId: body.instance_id as string,
      logType,
      text,
      rawBody: raw,
    });
    send(res, 201, '');
  }
}
