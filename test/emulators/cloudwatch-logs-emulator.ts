// Wire-level emulator of Amazon CloudWatch Logs (AWS JSON 1.1, `X-Amz-Target:
// Logs_20140328.<Op>`, SigV4 service "logs"), spoken to by the real @aws-sdk/client-cloudwatch-logs
// and by Docker's awslogs log driver. It enforces the PutLogEvents limits at least as strictly as
// AWS does and can inject throttling, 5xx and outages. It never logs anything.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AwsError, BodyTooLargeError, JsonInput } from './http-util.js';
import { closeServer, listen, readBody, sendJson, verifySigV4 } from './http-util.js';
import type { AcceptedCredential } from './http-util.js';
import type { AwsAccount } from './aws-account.js';

export interface CloudWatchLogsEmulatorOptions {
  region?: string;
  /** Accepted credentials (default: any access key id). With a secret, SigV4 is fully verified. */
  credentials?: ReadonlyArray<AcceptedCredential>;
  /** The emulator's clock (for the too-old / too-new windows). */
  now?: () => number;
  /** A shared account: its quotas apply (over quota: 400 ThrottlingException "Rate exceeded"). */
  account?: AwsAccount;
}

export interface StoredEvent {
  readonly timestamp: number;
  readonly message: string;
  readonly ingestionTime: number;
}

/** Limits from the PutLogEvents API reference; the span check is one millisecond stricter. */
export const EMULATED_LIMITS = {
  maxBatchBytes: 1_048_576,
  eventOverheadBytes: 26,
  maxEvents: 10_000,
  maxSpanMs: 24 * 60 * 60 * 1000,
  tooNewMs: 2 * 60 * 60 * 1000,
  tooOldMs: 14 * 24 * 60 * 60 * 1000,
};

const CONTENT_TYPE = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'Logs_20140328.';
const GROUP_RE = /^[.\-_/#A-Za-z0-9]{1,512}$/;
const STREAM_RE = /^[^:*]{1,512}$/;
const MEMBERS: Record<string, readonly string[]> = {
  CreateLogGroup: ['logGroupName', 'kmsKeyId', 'tags', 'logGroupClass', 'deletionProtectionEnabled'],
  CreateLogStream: ['logGroupName', 'logStreamName'],
  PutLogEvents: ['logGroupName', 'logStreamName', 'logEvents', 'sequenceToken', 'entity'],
};

type Outage = false | 'refuse' | 'unavailable';

export class CloudWatchLogsEmulator {
  readonly region: string;
  /** Requests by operation, including failed ones (after authentication). */
  readonly calls: Record<string, number> = {};
  /** PutLogEvents requests refused for breaking a limit: a correct client keeps this at 0. */
  readonly violations: string[] = [];
  /** Events reported back in rejectedLogEventsInfo. */
  rejectedEvents = 0;
  /** Largest accepted PutLogEvents batch, in API bytes (messages + 26 per event). */
  maxBatchBytes = 0;
  maxBatchEvents = 0;

  private readonly groups = new Map<string, Map<string, StoredEvent[]>>();
  private readonly faults: Array<{ code: string; status: number }> = [];
  private outage: Outage = false;
  private readonly now: () => number;
  private readonly account: AwsAccount | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly credentials: ReadonlyArray<AcceptedCredential> | undefined,
    options: CloudWatchLogsEmulatorOptions,
  ) {
    this.region = options.region ?? 'eu-central-1';
    this.now = options.now ?? Date.now;
    this.account = options.account;
  }

  static async start(options: CloudWatchLogsEmulatorOptions = {}): Promise<CloudWatchLogsEmulator> {
    const ref: { emulator?: CloudWatchLogsEmulator } = {};
    const { server, url } = await listen(async (req, res) => {
      if (!ref.emulator) throw new Error('not started');
      await ref.emulator.handle(req, res);
    });
    ref.emulator = new CloudWatchLogsEmulator(server, url, options.credentials, options);
    return ref.emulator;
  }

  async close(): Promise<void> {
    await closeServer(this.server);
  }

  createLogGroup(group: string): void {
    if (!this.groups.has(group)) this.groups.set(group, new Map());
  }

  /** The events stored in a stream, in arrival order ([] when it does not exist). */
  events(group: string, stream: string): readonly StoredEvent[] {
    return this.groups.get(group)?.get(stream) ?? [];
  }

  streams(group: string): string[] {
    return [...(this.groups.get(group)?.keys() ?? [])];
  }

  groupNames(): string[] {
    return [...this.groups.keys()];
  }

  /** The next `count` authenticated requests get 400 ThrottlingException ("Rate exceeded"). */
  throttleNext(count: number): void {
    for (let i = 0; i < count; i++) this.faults.push({ code: 'ThrottlingException', status: 400 });
  }

  /** The next `count` authenticated requests get 500 ServiceUnavailableException. */
  failNext(count: number): void {
    for (let i = 0; i < count; i++) this.faults.push({ code: 'ServiceUnavailableException', status: 500 });
  }

  /**
   * 'refuse': every request's connection is reset (an endpoint that is down or unreachable);
   * 'unavailable': every request gets 503 ServiceUnavailableException; false: back to normal.
   */
  setOutage(outage: Outage): void {
    this.outage = outage;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.outage === 'refuse') {
      req.socket.destroy();
      return;
    }
    const headers = { 'x-amzn-requestid': randomUUID() };
    try {
      const body = await readBody(req, 16 * 1024 * 1024);
      if (req.method !== 'POST' || req.url !== '/') {
        throw new AwsError('UnknownOperationException', 'CloudWatch Logs accepts only POST /');
      }
      verifySigV4(req, body, this.region, 'logs', this.credentials);
      const target = req.headers['x-amz-target'];
      const op =
        typeof target === 'string' && target.startsWith(TARGET_PREFIX)
          ? target.slice(TARGET_PREFIX.length)
          : '';
      const members = Object.hasOwn(MEMBERS, op) ? MEMBERS[op] : undefined;
      if (!members) throw new AwsError('UnknownOperationException', '');
      if (req.headers['content-type'] !== CONTENT_TYPE) {
        throw new AwsError('SerializationException', `Content-Type must be ${CONTENT_TYPE}`);
      }
      this.calls[op] = (this.calls[op] ?? 0) + 1;
      if (this.outage === 'unavailable') {
        throw new AwsError(
          'ServiceUnavailableException',
          'The service is unavailable (emulated outage)',
          503,
        );
      }
      const fault = this.faults.shift();
      if (fault)
        throw new AwsError(
          fault.code,
          fault.code === 'ThrottlingException' ? 'Rate exceeded' : 'Internal failure',
          fault.status,
        );
      if (this.account?.admit(`logs:${op}`, req) === false)
        throw new AwsError('ThrottlingException', 'Rate exceeded', 400);
      const input = JsonInput.parse(body, members);
      const result = this.dispatch(op, input);
      sendJson(res, 200, result, CONTENT_TYPE, headers);
    } catch (err) {
      const e =
        err instanceof AwsError
          ? err
          : err instanceof BodyTooLargeError
            ? new AwsError('InvalidParameterException', err.message, 413)
            : new AwsError('ServiceUnavailableException', 'internal error', 500);
      sendJson(res, e.status, { __type: e.code, message: e.message }, CONTENT_TYPE, {
        ...headers,
        'x-amzn-errortype': e.code,
      });
    }
  }

  private dispatch(op: string, input: JsonInput): Record<string, unknown> {
    const groupName = input.string('logGroupName', 1, 512);
    if (!GROUP_RE.test(groupName)) throw invalid('logGroupName has invalid characters');
    if (op === 'CreateLogGroup') {
      if (this.groups.has(groupName))
        throw new AwsError('ResourceAlreadyExistsException', 'The specified log group already exists');
      this.groups.set(groupName, new Map());
      return {};
    }
    const group = this.groups.get(groupName);
    const streamName = input.string('logStreamName', 1, 512);
    if (!STREAM_RE.test(streamName)) throw invalid('logStreamName has invalid characters');
    if (!group) throw new AwsError('ResourceNotFoundException', 'The specified log group does not exist.');
    if (op === 'CreateLogStream') {
      if (group.has(streamName))
        throw new AwsError('ResourceAlreadyExistsException', 'The specified log stream already exists');
      group.set(streamName, []);
      return {};
    }
    const stream = group.get(streamName);
    if (!stream) throw new AwsError('ResourceNotFoundException', 'The specified log stream does not exist.');
    return this.putLogEvents(input, stream);
  }

  private putLogEvents(input: JsonInput, stream: StoredEvent[]): Record<string, unknown> {
    const raw = input.get('logEvents');
    const fail = (message: string): never => {
      this.violations.push(message);
      throw invalid(message);
    };
    if (!Array.isArray(raw) || raw.length < 1) return fail('logEvents must hold at least one event');
    if (raw.length > EMULATED_LIMITS.maxEvents)
      return fail(`${raw.length} events exceed ${EMULATED_LIMITS.maxEvents}`);
    const events: Array<{ timestamp: number; message: string }> = [];
    let bytes = 0;
    for (const [index, event] of raw.entries()) {
      const { timestamp, message } = (event ?? {}) as { timestamp?: unknown; message?: unknown };
      if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || timestamp < 0) {
        return fail(`logEvents.${index}.timestamp is not a timestamp`);
      }
      if (typeof message !== 'string' || message.length < 1)
        return fail(`logEvents.${index}.message is empty`);
      if (!isWellFormed(message)) return fail(`logEvents.${index}.message is not valid UTF-8`);
      const size = Buffer.byteLength(message, 'utf8') + EMULATED_LIMITS.eventOverheadBytes;
      if (size > EMULATED_LIMITS.maxBatchBytes)
        return fail(`logEvents.${index} is ${size} bytes, over the event limit`);
      const previous = events.at(-1);
      if (previous && timestamp < previous.timestamp) {
        return fail('Log events in a single PutLogEvents request must be in chronological order.');
      }
      bytes += size;
      events.push({ timestamp, message });
    }
    if (bytes > EMULATED_LIMITS.maxBatchBytes) {
      return fail(`Upload too large: ${bytes} bytes exceeds limit of ${EMULATED_LIMITS.maxBatchBytes}`);
    }
    const first = events[0]?.timestamp ?? 0;
    const last = events.at(-1)?.timestamp ?? 0;
    if (last - first >= EMULATED_LIMITS.maxSpanMs) {
      return fail('The batch of log events in a single PutLogEvents request cannot span more than 24 hours.');
    }
    const now = this.now();
    let tooOldEnd = 0;
    while (tooOldEnd < events.length && (events[tooOldEnd]?.timestamp ?? 0) < now - EMULATED_LIMITS.tooOldMs)
      tooOldEnd++;
    let tooNewStart = events.length;
    while (
      tooNewStart > tooOldEnd &&
      (events[tooNewStart - 1]?.timestamp ?? 0) > now + EMULATED_LIMITS.tooNewMs
    )
      tooNewStart--;
    for (const event of events.slice(tooOldEnd, tooNewStart)) stream.push({ ...event, ingestionTime: now });
    this.maxBatchBytes = Math.max(this.maxBatchBytes, bytes);
    this.maxBatchEvents = Math.max(this.maxBatchEvents, events.length);
    const result: Record<string, unknown> = { nextSequenceToken: String(stream.length).padStart(56, '0') };
    if (tooOldEnd > 0 || tooNewStart < events.length) {
      this.rejectedEvents += tooOldEnd + events.length - tooNewStart;
      result.rejectedLogEventsInfo = {
        ...(tooOldEnd > 0 ? { tooOldLogEventEndIndex: tooOldEnd } : {}),
        ...(tooNewStart < events.length ? { tooNewLogEventStartIndex: tooNewStart } : {}),
      };
    }
    return result;
  }
}

function invalid(message: string): AwsError {
  return new AwsError('InvalidParameterException', message);
}

/** No lone UTF-16 surrogates: the text has a UTF-8 encoding (JSON may carry "\udc80" escapes). */
function isWellFormed(text: string): boolean {
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
}
