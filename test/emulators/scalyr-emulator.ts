// Scalyr's (DataSet's) `addEvents` API on the wire (https://app.scalyr.com/help/api#addEvents):
// `POST /addEvents` (the agent's path) or `/api/addEvents` (the newer clients'), a JSON body
// `{token, session, sessionInfo, events, threads, logs}`, optionally compressed with
// `Content-Encoding: gzip` or `deflate`, answered `{"status": "success"}` or an error status
// (`error/client/badParam`, `error/client/noPermission`, `error/server/backoff`).
//
// Stricter than the service where that catches client bugs, never looser:
// - the body may be at most 3,000,000 bytes after decompression (the older documentation's
//   limit; the newer says 6 MB) and 6,000,000 as sent;
// - `token` must be the write key, `session` a non-empty string, `sessionInfo` the same object
//   for every request of a session (the API "might ignore the changes");
// - every event needs `ts` (a string of digits: nanoseconds), `attrs` (an object), `sev` 0–6 if
//   given, and a `log` that names an entry of `logs` (`{id, attrs}`) of this request or an
//   earlier one of the session;
// - `ts` strictly increases within the session ("each event must have a larger timestamp than
//   the preceding event"). A request sent again byte for byte after it was taken (the way
//   scalyr-agent-2 retries a request whose answer it lost) is answered success and not stored
//   twice; any other request that goes back in time is refused.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { gunzipSync, inflateSync } from 'node:zlib';
import { BodyTooLargeError, closeServer, listen, readBody, sendJson } from './http-util.js';

export const MAX_SENT_BYTES = 6_000_000;
export const MAX_BODY_BYTES = 3_000_000;

/** One stored event: the event, its log's attributes, and its session's. */
export interface ScalyrEvent {
  readonly session: string;
  readonly sessionInfo: Readonly<Record<string, unknown>>;
  readonly ts: string;
  readonly sev: number;
  /** The event's attrs, over its log's attrs (`logfile`, `parser`). */
  readonly attrs: Readonly<Record<string, unknown>>;
  readonly message: string;
}

export interface ScalyrRequest {
  readonly encoding: string;
  readonly sentBytes: number;
  /** The decompressed body, to check where a secret went. */
  readonly body: string;
  readonly status: string;
}

export interface InjectedAnswer {
  readonly httpStatus: number;
  readonly status: string;
  readonly retryAfterSeconds?: number;
}

interface SessionState {
  readonly info: string;
  lastTs: bigint;
  lastDigest: string;
  readonly logs: Map<string, Record<string, unknown>>;
}

class BadParam extends Error {}

const DIGITS = /^\d{1,25}$/;

export class ScalyrEmulator {
  readonly events: ScalyrEvent[] = [];
  readonly requests: ScalyrRequest[] = [];
  readonly #sessions = new Map<string, SessionState>();
  #answers: (InjectedAnswer | 'take')[] = [];

  private constructor(
    private readonly server: Server,
    /** The base URL (the agent's `scalyr_server`); POST to `${url}/addEvents`. */
    readonly url: string,
    private readonly writeKey: string,
  ) {}

  static async start(writeKey: string): Promise<ScalyrEmulator> {
    const holder: { emulator?: ScalyrEmulator } = {};
    const { server, url } = await listen(async (req, res) => {
      await holder.emulator?.handle(req, res);
    });
    holder.emulator = new ScalyrEmulator(server, url, writeKey);
    return holder.emulator;
  }

  /**
   * The next authorised requests get these answers instead (nothing is stored); `'take'`
   * handles that request as usual.
   */
  answerNext(...answers: (InjectedAnswer | 'take')[]): void {
    this.#answers.push(...answers);
  }

  /** The messages stored, in order, for one `logfile`. */
  messages(logfile?: string): string[] {
    return this.events
      .filter((event) => logfile === undefined || event.attrs.logfile === logfile)
      .map((e) => e.message);
  }

  stop(): Promise<void> {
    return closeServer(this.server);
  }

  private answer(
    res: ServerResponse,
    httpStatus: number,
    status: string,
    message?: string,
    headers: Record<string, string> = {},
  ): string {
    sendJson(
      res,
      httpStatus,
      message === undefined ? { status } : { status, message },
      'application/json',
      headers,
    );
    return status;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://emulator').pathname;
    if (path !== '/addEvents' && path !== '/api/addEvents') {
      this.answer(res, 404, 'error/client/notFound', `no method at ${path}`);
      return;
    }
    if (req.method !== 'POST') {
      this.answer(res, 405, 'error/client/badParam', 'addEvents takes POST');
      return;
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    let raw: Buffer;
    try {
      raw = await readBody(req, MAX_SENT_BYTES);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      this.answer(
        res,
        413,
        'error/client/badParam/tooLarge',
        `request body over ${String(MAX_SENT_BYTES)} bytes`,
      );
      return;
    }
    let body: Buffer;
    try {
      if (encoding === 'gzip') body = gunzipSync(raw, { maxOutputLength: MAX_BODY_BYTES + 1 });
      else if (encoding === 'deflate') body = inflateSync(raw, { maxOutputLength: MAX_BODY_BYTES + 1 });
      else if (encoding === 'identity') body = raw;
      else {
        this.answer(res, 400, 'error/client/badParam', `unsupported Content-Encoding ${encoding}`);
        return;
      }
    } catch (error) {
      const tooLarge = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      this.answer(
        res,
        tooLarge ? 413 : 400,
        tooLarge ? 'error/client/badParam/tooLarge' : 'error/client/badParam',
        tooLarge ? 'body too large' : `body is not ${encoding}`,
      );
      return;
    }
    const text = body.toString('utf8');
    const record = (status: string): void => {
      this.requests.push({ encoding, sentBytes: raw.length, body: text, status });
    };
    if (body.length > MAX_BODY_BYTES) {
      record(
        this.answer(
          res,
          413,
          'error/client/badParam/tooLarge',
          `request body over ${String(MAX_BODY_BYTES)} bytes`,
        ),
      );
      return;
    }
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
      record(this.answer(res, 400, 'error/client/badParam', 'Content-Type must be application/json'));
      return;
    }
    let input: unknown;
    try {
      input = JSON.parse(text);
    } catch {
      record(this.answer(res, 400, 'error/client/badParam', 'body is not JSON'));
      return;
    }
    if (!isObject(input)) {
      record(this.answer(res, 400, 'error/client/badParam', 'body is not a JSON object'));
      return;
    }
    if (typeof input.token !== 'string' || !this.isWriteKey(input.token)) {
      record(this.answer(res, 401, 'error/client/noPermission', 'invalid or missing token'));
      return;
    }
    const injected = this.#answers.shift();
    if (injected !== undefined && injected !== 'take') {
      const headers: Record<string, string> =
        injected.retryAfterSeconds === undefined ? {} : { 'retry-after': String(injected.retryAfterSeconds) };
      record(this.answer(res, injected.httpStatus, injected.status, 'injected', headers));
      return;
    }
    try {
      this.accept(input, createHash('sha256').update(body).digest('hex'));
      record(this.answer(res, 200, 'success'));
    } catch (error) {
      if (!(error instanceof BadParam)) throw error;
      record(this.answer(res, 400, 'error/client/badParam', error.message));
    }
  }

  private isWriteKey(token: string): boolean {
    const given = Buffer.from(token);
    const expected = Buffer.from(this.writeKey);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** Checks and stores one request; false when it was the last request again (not stored). */
  private accept(input: Record<string, unknown>, digest: string): boolean {
    const { session, sessionInfo, events, logs, threads } = input;
    if (typeof session !== 'string' || session === '')
      throw new BadParam('session: expected a non-empty string');
    if (sessionInfo !== undefined && !isObject(sessionInfo))
      throw new BadParam('sessionInfo: expected an object');
    if (!Array.isArray(events)) throw new BadParam('events: expected a list');
    if (
      threads !== undefined &&
      (!Array.isArray(threads) || !threads.every((t) => isObject(t) && t.id !== undefined))
    )
      throw new BadParam('threads: expected a list of {id, name}');
    if (
      logs !== undefined &&
      (!Array.isArray(logs) ||
        !logs.every((l) => isObject(l) && typeof l.id === 'string' && isObject(l.attrs)))
    )
      throw new BadParam('logs: expected a list of {id, attrs}');
    const info = JSON.stringify(sessionInfo ?? {});
    const state = this.#sessions.get(session) ?? {
      info,
      lastTs: -1n,
      lastDigest: '',
      logs: new Map<string, Record<string, unknown>>(),
    };
    if (state.info !== info) throw new BadParam('sessionInfo: changed within the session');
    if (digest === state.lastDigest) return false;
    const requestLogs = new Map(state.logs);
    for (const log of (logs ?? []) as Array<{ id: string; attrs: Record<string, unknown> }>)
      requestLogs.set(log.id, log.attrs);
    let last = state.lastTs;
    const accepted: ScalyrEvent[] = [];
    for (const [index, event] of (events as unknown[]).entries()) {
      if (!isObject(event)) throw new BadParam(`events[${String(index)}]: expected an object`);
      if (typeof event.ts !== 'string' || !DIGITS.test(event.ts))
        throw new BadParam(`events[${String(index)}].ts: expected nanoseconds as a string of digits`);
      const ts = BigInt(event.ts);
      if (ts <= last)
        throw new BadParam(
          `events[${String(index)}].ts: ${event.ts} is not larger than the preceding event's ${String(last)}`,
        );
      last = ts;
      if (!isObject(event.attrs)) throw new BadParam(`events[${String(index)}].attrs: expected an object`);
      if (
        event.sev !== undefined &&
        !(Number.isInteger(event.sev) && (event.sev as number) >= 0 && (event.sev as number) <= 6)
      )
        throw new BadParam(`events[${String(index)}].sev: expected 0–6`);
      let logAttrs: Record<string, unknown> = {};
      if (event.log !== undefined) {
        const found = typeof event.log === 'string' ? requestLogs.get(event.log) : undefined;
        if (found === undefined)
          throw new BadParam(`events[${String(index)}].log: no log with id ${JSON.stringify(event.log)}`);
        logAttrs = found;
      }
      const attrs = { ...logAttrs, ...event.attrs };
      accepted.push({
        session,
        sessionInfo: sessionInfo ?? {},
        ts: event.ts,
        sev: (event.sev as number | undefined) ?? 3,
        attrs,
        message: typeof attrs.message === 'string' ? attrs.message : '',
      });
    }
    state.lastTs = last;
    state.lastDigest = digest;
    for (const [id, attrs] of requestLogs) state.logs.set(id, attrs);
    this.#sessions.set(session, state);
    this.events.push(...accepted);
    return true;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
