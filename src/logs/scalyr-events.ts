import { splitUtf8 } from './log-message.js';
import type { LogRecord } from './log-record.js';
import type { ScalyrRoute } from './scalyr-plan.js';
import { copyBytes, indexRecords, type RecordBatch, type RecordIndex } from './spool-records.js';

/**
 * The bodies of Scalyr `addEvents` requests (https://app.scalyr.com/help/api#addEvents), pure:
 *
 * ```
 * {"token":"…","session":"<uuid>","sessionInfo":{"serverHost":"<application_id>",…},
 *  "logs":[{"id":"1","attrs":{"logfile":"/var/log/application.log","parser":"slf4j"}}],
 *  "events":[{"ts":"1700000000000000000","sev":3,"log":"1",
 *             "attrs":{"message":"…","logfile":"/var/log/application.log","parser":"slf4j"}}]}
 * ```
 *
 * - `ts` is nanoseconds since the epoch as a string (a double cannot hold it), strictly
 *   increasing within the session: records carry milliseconds, so events within one
 *   millisecond, or out of order between sources, get the last timestamp + 1 ns.
 * - `logfile` and `parser` are the log's attributes (`logs`, which scalyr-agent-2 sends) and
 *   also each event's (as fluent-plugin-scalyr sent them), so a reader of events alone has them.
 *   `logfile` is the route's file name, or for a source that tails a pattern
 *   (/var/log-custom/*.log) the file the line came from, as scalyr-agent-2 named each file a
 *   glob matched: one log per file.
 * - A request is cut before it would pass `maxRequestBytes` of JSON (the API refuses bodies
 *   over 3,000,000 bytes in its older documentation, 6 MB in the newer one); a line longer than
 *   `maxMessageBytes` is sent as several events (the original's agent: `max_line_size 49900`).
 * - The token is not in what this builds: it is put in front when the request is sent, so the
 *   prepared bodies hold no secret.
 *
 * Bodies are written as bytes into one buffer. From spool lines (`batch.encoded`) a message's
 * JSON string is copied as it is: the spool holds exactly JSON.stringify(message), which is
 * what the event needs, so the common line costs no decode, no string and no object
 * (bench/scalyr). A line that must be read (a sampling rule, a line to split) takes the
 * record's path, which writes the same bytes.
 */

/** One request without its token: `{"token":` + JSON token + `body`. */
export interface PreparedRequest {
  /** The rest of the JSON after the token, starting with `,"session":`. */
  readonly body: Buffer;
  readonly events: number;
  /** Records whose first event is in this request (what a refusal counts as rejected). */
  readonly records: number;
}

export interface AddEventsOptions {
  readonly session: string;
  /** Server attributes, the same for every request of the session. */
  readonly sessionInfo: Readonly<Record<string, string>>;
  /** Source name → its log's attributes; records of other sources are not sent. */
  readonly routes: Readonly<Record<string, ScalyrRoute>>;
  readonly maxRequestBytes: number;
  readonly maxMessageBytes: number;
  /** For sampling rules (tests pass their own). */
  readonly random: () => number;
}

/**
 * Strictly increasing nanosecond timestamps for one session: the millisecond and a count of
 * nanoseconds within it, so no BigInt per event.
 */
export class SessionTimestamps {
  #millis = 0;
  #nanos = 0;

  next(millis: number): string {
    const ms = Math.max(0, Math.trunc(millis));
    if (ms > this.#millis) {
      this.#millis = ms;
      this.#nanos = 0;
    } else if (++this.#nanos === 1_000_000) {
      this.#millis++;
      this.#nanos = 0;
    }
    if (this.#millis === 0) return String(this.#nanos);
    return `${String(this.#millis)}${String(this.#nanos).padStart(6, '0')}`;
  }
}

// The JSON a token of up to this length adds in front; only used to leave room for it.
const TOKEN_ROOM = 512;
// `]}` after the events, `],"events":[` between logs and events, and some slack.
const ENVELOPE_SLACK = 32;

interface Log {
  readonly id: string;
  /** `{"id":"1","attrs":{…}}` */
  readonly json: Buffer;
  /** `","sev":3,"log":"1","attrs":{"message":` — what follows the ts digits. */
  readonly afterTs: Buffer;
  /** `,"logfile":"…","parser":"…"}}` — what follows the message. */
  readonly tail: Buffer;
}

interface CompiledRoute {
  readonly route: ScalyrRoute;
  readonly rules: readonly { readonly regex: RegExp; readonly rate: number }[];
}

const EVENT_HEAD = Buffer.from('{"ts":"');

/** The records as addEvents requests; `sampledOut` records were left out by sampling rules. */
export function addEventsRequests(
  batch: RecordBatch,
  stamps: SessionTimestamps,
  options: AddEventsOptions,
): { requests: PreparedRequest[]; sampledOut: number } {
  return new RequestWriter(stamps, options).write(batch);
}

class RequestWriter {
  readonly #stamps: SessionTimestamps;
  readonly #options: AddEventsOptions;
  readonly #logs = new Map<string, Log>();
  readonly #routes = new Map<string, CompiledRoute | undefined>();
  readonly #head: Buffer;
  readonly #requests: PreparedRequest[] = [];
  #nextId = 1;
  // The events of the request being made: bytes, and the logs they name (in order).
  #out = Buffer.allocUnsafe(64 * 1024);
  #length = 0;
  #events = 0;
  #records = 0;
  #used = new Set<Log>();
  #usedBytes = 0;
  #sampledOut = 0;

  constructor(stamps: SessionTimestamps, options: AddEventsOptions) {
    this.#stamps = stamps;
    this.#options = options;
    this.#head = Buffer.from(
      `,"session":${JSON.stringify(options.session)},"sessionInfo":${JSON.stringify(options.sessionInfo)},"logs":[`,
    );
    for (const [source, route] of Object.entries(options.routes))
      this.#log(source, route.logfile, route.parser);
  }

  write(batch: RecordBatch): { requests: PreparedRequest[]; sampledOut: number } {
    const index = batch.encoded === undefined ? undefined : indexRecords(batch.encoded, batch.length);
    if (batch.encoded === undefined || index === undefined)
      for (const record of batch.records) this.#record(record);
    else this.#spoolLines(batch.encoded, index);
    this.#flush();
    return { requests: this.#requests, sampledOut: this.#sampledOut };
  }

  /** Spool lines: the message's JSON copied where it can be. */
  #spoolLines(lines: Buffer, index: RecordIndex): void {
    let sourceStart = -1;
    let sourceEnd = -1;
    let source = '';
    let compiled: CompiledRoute | undefined;
    let sourceLog: Log | undefined;
    // The file of the last line that had one (a pattern source's lines come in runs per file).
    let fileStart = -1;
    let fileEnd = -1;
    let fileLog: Log | undefined;
    for (let n = 0; n < index.count; n++) {
      const start = index.sourceStart[n] as number;
      const end = index.sourceEnd[n] as number;
      if (sourceStart < 0 || lines.compare(lines, sourceStart, sourceEnd, start, end) !== 0) {
        source = JSON.parse(lines.toString('utf8', start, end)) as string;
        compiled = this.#route(source);
        sourceLog = compiled === undefined ? undefined : this.#logs.get(source);
        sourceStart = start;
        sourceEnd = end;
        fileStart = -1;
      }
      if (compiled === undefined || sourceLog === undefined) continue;
      let log = sourceLog;
      const lineFileStart = index.fileStart[n] as number;
      if (lineFileStart >= 0) {
        const lineFileEnd = index.fileEnd[n] as number;
        if (
          fileLog === undefined ||
          fileStart < 0 ||
          lines.compare(lines, fileStart, fileEnd, lineFileStart, lineFileEnd) !== 0
        ) {
          const file = JSON.parse(lines.toString('utf8', lineFileStart, lineFileEnd)) as string;
          const key = `${source}\u0000${file}`;
          fileLog = this.#logs.get(key) ?? this.#log(key, file, compiled.route.parser);
          fileStart = lineFileStart;
          fileEnd = lineFileEnd;
        }
        log = fileLog;
      }
      const messageStart = index.messageStart[n] as number;
      const messageEnd = index.messageEnd[n] as number;
      const timestamp = index.timestamps[n] as number;
      // JSON never takes fewer bytes than the UTF-8 it stands for: short JSON is a short line.
      if (compiled.rules.length > 0 || messageEnd - messageStart - 2 > this.#options.maxMessageBytes) {
        const message = JSON.parse(lines.toString('utf8', messageStart, messageEnd)) as string;
        const file =
          lineFileStart < 0
            ? undefined
            : (JSON.parse(lines.toString('utf8', lineFileStart, index.fileEnd[n])) as string);
        this.#record(
          file === undefined ? { source, timestamp, message } : { source, timestamp, message, file },
        );
        continue;
      }
      const ts = this.#stamps.next(timestamp);
      const size =
        EVENT_HEAD.length + ts.length + log.afterTs.length + (messageEnd - messageStart) + log.tail.length;
      const at = this.#reserve(log, size);
      let o = copyBytes(EVENT_HEAD, 0, EVENT_HEAD.length, this.#out, at);
      o += this.#out.write(ts, o, 'latin1');
      o = copyBytes(log.afterTs, 0, log.afterTs.length, this.#out, o);
      o = copyBytes(lines, messageStart, messageEnd, this.#out, o);
      this.#length = copyBytes(log.tail, 0, log.tail.length, this.#out, o);
      this.#records++;
    }
  }

  #record(record: LogRecord): void {
    const compiled = this.#route(record.source);
    if (compiled === undefined) return;
    const key = record.file === undefined ? record.source : `${record.source}\u0000${record.file}`;
    const log =
      this.#logs.get(key) ?? this.#log(key, record.file ?? compiled.route.logfile, compiled.route.parser);
    const rule = compiled.rules.find((candidate) => candidate.regex.test(record.message));
    if (rule !== undefined && !(this.#options.random() < rule.rate)) {
      this.#sampledOut++;
      return;
    }
    const pieces = record.message === '' ? [''] : splitUtf8(record.message, this.#options.maxMessageBytes);
    pieces.forEach((piece, index) => {
      const ts = this.#stamps.next(record.timestamp);
      const message = JSON.stringify(piece);
      const size =
        EVENT_HEAD.length + ts.length + log.afterTs.length + Buffer.byteLength(message) + log.tail.length;
      const at = this.#reserve(log, size);
      let o = copyBytes(EVENT_HEAD, 0, EVENT_HEAD.length, this.#out, at);
      o += this.#out.write(ts, o, 'latin1');
      o = copyBytes(log.afterTs, 0, log.afterTs.length, this.#out, o);
      o += this.#out.write(message, o, 'utf8');
      this.#length = copyBytes(log.tail, 0, log.tail.length, this.#out, o);
      if (index === 0) this.#records++;
    });
  }

  /**
   * Room for one event of `size` bytes naming `log`: the request is cut first when the event
   * would take it past maxRequestBytes. Returns where the event starts (after its comma).
   */
  #reserve(log: Log, size: number): number {
    const logBytes = this.#used.has(log) ? 0 : log.json.length + 1;
    const envelope = TOKEN_ROOM + this.#head.length + ENVELOPE_SLACK + this.#usedBytes + logBytes;
    if (this.#events > 0 && envelope + this.#length + size + 1 > this.#options.maxRequestBytes) this.#flush();
    if (!this.#used.has(log)) {
      this.#used.add(log);
      this.#usedBytes += log.json.length + 1;
    }
    const needed = this.#length + size + 1;
    if (needed > this.#out.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.#out.length * 2));
      this.#out.copy(grown, 0, 0, this.#length);
      this.#out = grown;
    }
    if (this.#events > 0) this.#out[this.#length++] = 0x2c; // ,
    this.#events++;
    return this.#length;
  }

  #flush(): void {
    if (this.#events === 0) return;
    const parts: Buffer[] = [this.#head];
    let first = true;
    for (const log of this.#used) {
      if (!first) parts.push(COMMA);
      parts.push(log.json);
      first = false;
    }
    parts.push(BETWEEN, this.#out.subarray(0, this.#length), END);
    this.#requests.push({ body: Buffer.concat(parts), events: this.#events, records: this.#records });
    this.#length = 0;
    this.#events = 0;
    this.#records = 0;
    this.#used = new Set();
    this.#usedBytes = 0;
  }

  /** The source's route with its sampling rules compiled; undefined: not sent to Scalyr. */
  #route(source: string): CompiledRoute | undefined {
    if (this.#routes.has(source)) return this.#routes.get(source);
    const route = this.#options.routes[source];
    const compiled =
      route === undefined
        ? undefined
        : {
            route,
            rules: route.sampling.map((rule) => ({
              regex: new RegExp(rule.matchExpression),
              rate: rule.samplingRate,
            })),
          };
    this.#routes.set(source, compiled);
    return compiled;
  }

  #log(key: string, logfile: string, parser: string): Log {
    const id = String(this.#nextId++);
    const attrs = `"logfile":${JSON.stringify(logfile)},"parser":${JSON.stringify(parser)}`;
    const log: Log = {
      id,
      json: Buffer.from(`{"id":"${id}","attrs":{${attrs}}}`),
      afterTs: Buffer.from(`","sev":3,"log":"${id}","attrs":{"message":`),
      tail: Buffer.from(`,${attrs}}}`),
    };
    this.#logs.set(key, log);
    return log;
  }
}

const COMMA = Buffer.from(',');
const BETWEEN = Buffer.from('],"events":[');
const END = Buffer.from(']}');
