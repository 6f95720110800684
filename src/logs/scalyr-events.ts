import { splitUtf8 } from './log-message.js';
import type { LogRecord } from './log-record.js';
import type { ScalyrRoute } from './scalyr-plan.js';

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
 */

/** One request without its token: `{"token":` + JSON token + `body`. */
export interface PreparedRequest {
  /** The rest of the JSON after the token, starting with `,"session":`. */
  readonly body: string;
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

/** Strictly increasing nanosecond timestamps for one session. */
export class SessionTimestamps {
  #last = 0n;

  next(millis: number): string {
    let ts = BigInt(Math.max(0, Math.trunc(millis))) * 1_000_000n;
    if (ts <= this.#last) ts = this.#last + 1n;
    this.#last = ts;
    return ts.toString();
  }
}

// The JSON a token of up to this length adds in front; only used to leave room for it.
const TOKEN_ROOM = 512;

/** The records as addEvents requests; `sampledOut` records were left out by sampling rules. */
export function addEventsRequests(
  records: readonly LogRecord[],
  stamps: SessionTimestamps,
  options: AddEventsOptions,
): { requests: PreparedRequest[]; sampledOut: number } {
  const logIds = new Map<string, { id: string; json: string; attrs: string }>();
  let nextId = 1;
  const addLog = (
    key: string,
    logfile: string,
    parser: string,
  ): { id: string; json: string; attrs: string } => {
    const id = String(nextId++);
    const attrs = `"logfile":${JSON.stringify(logfile)},"parser":${JSON.stringify(parser)}`;
    const log = { id, json: `{"id":"${id}","attrs":{${attrs}}}`, attrs };
    logIds.set(key, log);
    return log;
  };
  for (const [source, route] of Object.entries(options.routes)) addLog(source, route.logfile, route.parser);
  // A record with a file is the log of that file (key: source, NUL, path); made when first seen.
  const logKey = (record: LogRecord): string =>
    record.file === undefined ? record.source : `${record.source}\u0000${record.file}`;
  const head = `,"session":${JSON.stringify(options.session)},"sessionInfo":${JSON.stringify(options.sessionInfo)}`;
  const requests: PreparedRequest[] = [];
  let events: string[] = [];
  let logs = new Set<string>();
  let bytes = 0;
  let recordCount = 0;
  let sampledOut = 0;
  const envelopeBytes = (withLog: string | undefined): number => {
    let size = TOKEN_ROOM + Buffer.byteLength(head) + 32;
    for (const source of withLog === undefined || logs.has(withLog) ? logs : [...logs, withLog])
      size += (logIds.get(source)?.json.length ?? 0) + 1;
    return size;
  };
  const flush = (): void => {
    if (events.length === 0) return;
    const logsJson = [...logs].map((source) => logIds.get(source)?.json ?? '').join(',');
    requests.push({
      body: `${head},"logs":[${logsJson}],"events":[${events.join(',')}]}`,
      events: events.length,
      records: recordCount,
    });
    events = [];
    logs = new Set();
    bytes = 0;
    recordCount = 0;
  };
  const compiled = new Map<string, readonly { regex: RegExp; rate: number }[]>();
  for (const record of records) {
    const route = options.routes[record.source];
    if (route === undefined) continue;
    const key = logKey(record);
    const log = logIds.get(key) ?? addLog(key, record.file ?? route.logfile, route.parser);
    if (route.sampling.length > 0) {
      let rules = compiled.get(record.source);
      if (rules === undefined) {
        rules = route.sampling.map((rule) => ({
          regex: new RegExp(rule.matchExpression),
          rate: rule.samplingRate,
        }));
        compiled.set(record.source, rules);
      }
      const rule = rules.find((candidate) => candidate.regex.test(record.message));
      if (rule !== undefined && !(options.random() < rule.rate)) {
        sampledOut++;
        continue;
      }
    }
    const pieces = record.message === '' ? [''] : splitUtf8(record.message, options.maxMessageBytes);
    pieces.forEach((piece, index) => {
      const event = `{"ts":"${stamps.next(record.timestamp)}","sev":3,"log":"${log.id}","attrs":{"message":${JSON.stringify(piece)},${log.attrs}}}`;
      const size = Buffer.byteLength(event) + 1;
      if (events.length > 0 && envelopeBytes(key) + bytes + size > options.maxRequestBytes) flush();
      events.push(event);
      logs.add(key);
      bytes += size;
      if (index === 0) recordCount++;
    });
  }
  flush();
  return { requests, sampledOut };
}
