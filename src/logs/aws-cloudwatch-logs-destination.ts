import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { systemClock, type Clock } from '../core/clock.js';
import { firstLine, TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import { spreadOffset } from '../core/throttling.js';
import {
  cloudWatchBatches,
  encodedPutLogEvents,
  onePutLogEvents,
  putLogEventsHead,
  PUT_LOG_EVENTS_LIMITS,
  type CloudWatchEvent,
  type EncodedStream,
} from './cloudwatch-batches.js';
import type { DeliveryResult, LogDestination } from './log-destination.js';
import type { LogRecord } from './log-record.js';
import { releaseBuffer } from './release-buffer.js';
import { indexRecords, sameBytes, type RecordBatch } from './spool-records.js';

/** Where one source's records go: the group from the config, the stream = the instance id. */
export interface CloudWatchLogsRoute {
  readonly logGroup: string;
  readonly logStream: string;
}

export interface AwsCloudWatchLogsDestinationOptions {
  /** Cursor name in the spool; default "cloudwatch-logs". */
  readonly name?: string;
  readonly region: string;
  /** Override for tests and emulators; the SDK's regional endpoint otherwise. */
  readonly endpoint?: string | undefined;
  /** Source name → group/stream. Records of other sources are acknowledged without sending. */
  readonly routes: Readonly<Record<string, CloudWatchLogsRoute>>;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Per-request deadline. */
  readonly timeoutMs?: number;
  /** The first delivery waits a random [0, this) ms; default FIRST_DELIVERY_SPREAD_MS. */
  readonly firstCallSpreadMs?: number;
}

/**
 * Log-stream creation is not urgent (the records wait in the spool) and CreateLogStream has the
 * lowest quota on the boot path (50 TPS per account and Region): 5 s of spread turns 1,000
 * instances booting within a second into ~200 calls a second, which the retry absorbs.
 */
export const FIRST_DELIVERY_SPREAD_MS = 5_000;

/**
 * Throttling and 5xx are retried here, per request, before the delivery as a whole fails and
 * the destination worker backs off (DELIVERY_RETRY). Throttling is per account and Region since
 * sequence tokens went away: full jitter from 200 ms doubling to 10 s spreads a fleet, and 8
 * attempts (about 30 s) ride out a burst without hiding an outage.
 */
export const PUT_LOG_EVENTS_RETRY: RetryPolicy = {
  name: 'cloudwatch-logs',
  maxAttempts: 8,
  initialDelayMs: 200,
  maxDelayMs: 10_000,
  multiplier: 2,
  jitter: true,
};

// Errors that a retry of the same request cannot fix.
const PERMANENT = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidParameterException',
  'InvalidSequenceTokenException',
  'DataAlreadyAcceptedException',
  'UnsupportedOperationException',
  'ValidationException',
  'SerializationException',
]);

/** Adapter: a LogDestination over PutLogEvents (@aws-sdk/client-cloudwatch-logs). */
export class AwsCloudWatchLogsDestination implements LogDestination {
  readonly name: string;
  /**
   * One request per delivery, filled to the limits: a spool record takes at least as many bytes
   * as PutLogEvents counts for its event (message + 26), so 1 MiB of spool is at most one request.
   */
  readonly deliveryLimits = {
    bytes: PUT_LOG_EVENTS_LIMITS.maxBatchBytes,
    records: PUT_LOG_EVENTS_LIMITS.maxEvents,
  };
  /** Parallel PutLogEvents on a stream are allowed (no sequence tokens since 2023). */
  readonly concurrentDeliveries = 2;
  readonly #client: CloudWatchLogsClient;
  readonly #routes: Readonly<Record<string, CloudWatchLogsRoute>>;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #firstCallSpreadMs: number;
  /** Source (its JSON) → its route and request head; null: not shipped here. */
  readonly #streamOfSource = new Map<string, (EncodedStream & { route: CloudWatchLogsRoute }) | null>();
  /** Routes (group NUL stream) whose stream CloudWatch said is missing: create before putting. */
  readonly #missing = new Set<string>();

  constructor(options: AwsCloudWatchLogsDestinationOptions) {
    this.name = options.name ?? 'cloudwatch-logs';
    this.#client = new CloudWatchLogsClient({
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      // One attempt per call: our retry helper owns the policy, so the two never multiply.
      maxAttempts: 1,
    });
    this.#routes = options.routes;
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#firstCallSpreadMs = options.firstCallSpreadMs ?? FIRST_DELIVERY_SPREAD_MS;
  }

  async deliver(batch: RecordBatch, signal: AbortSignal): Promise<DeliveryResult> {
    if (batch.encoded !== undefined) {
      const result = await this.#deliverEncoded(batch.encoded, batch.length, signal);
      if (result !== undefined) return result;
    }
    return this.#deliverRecords(batch.records, signal);
  }

  /**
   * Spool lines straight into request bodies: usually (one source, in order, one request) in
   * one pass (onePutLogEvents), else through an index (encodedPutLogEvents); undefined when they
   * need decoding after all (not in chronological order, or not in the spool's encoding).
   */
  async #deliverEncoded(
    lines: Buffer,
    count: number,
    signal: AbortSignal,
  ): Promise<DeliveryResult | undefined> {
    const one = onePutLogEvents(lines, count, (sourceJson) => this.#stream(sourceJson));
    if (one !== undefined) {
      const rejected =
        one.body === undefined ? 0 : await this.#putBatch(one.stream.route, one.events, one.body, signal);
      return { rejected: one.rejected + rejected };
    }
    const index = indexRecords(lines, count);
    if (index === undefined) return undefined;
    const routes: CloudWatchLogsRoute[] = [];
    const streams: EncodedStream[] = [];
    const streamOfRoute = new Map<string, number>();
    // Records of one source come in runs: its JSON is looked up once per run, not per record.
    let lastStart = -1;
    let lastEnd = -1;
    let lastStream = -1;
    const streamOf = (n: number): number => {
      const start = index.sourceStart[n] as number;
      const end = index.sourceEnd[n] as number;
      if (lastStart >= 0 && sameBytes(lines, lastStart, lastEnd, start, end)) return lastStream;
      const found = this.#stream(lines.toString('utf8', start, end));
      let stream = -1;
      if (found !== undefined) {
        const key = `${found.route.logGroup}\u0000${found.route.logStream}`;
        stream = streamOfRoute.get(key) ?? streams.length;
        if (stream === streams.length) {
          streamOfRoute.set(key, stream);
          routes.push(found.route);
          streams.push(found);
        }
      }
      lastStart = start;
      lastEnd = end;
      lastStream = stream;
      return stream;
    };
    const encoded = encodedPutLogEvents(lines, index, streams, streamOf);
    if (encoded === undefined) return undefined;
    let rejected = encoded.rejected;
    for (const request of encoded.requests)
      rejected += await this.#putBatch(
        routes[request.stream] as CloudWatchLogsRoute,
        request.events,
        request.body,
        signal,
      );
    return { rejected };
  }

  #stream(sourceJson: string): (EncodedStream & { route: CloudWatchLogsRoute }) | undefined {
    let stream = this.#streamOfSource.get(sourceJson);
    if (stream === undefined) {
      const route = this.#routes[JSON.parse(sourceJson) as string];
      stream =
        route === undefined ? null : { route, head: putLogEventsHead(route.logGroup, route.logStream) };
      this.#streamOfSource.set(sourceJson, stream);
    }
    return stream ?? undefined;
  }

  async #deliverRecords(records: readonly LogRecord[], signal: AbortSignal): Promise<DeliveryResult> {
    const streams = new Map<string, { route: CloudWatchLogsRoute; events: CloudWatchEvent[] }>();
    // Source → its stream's events (null: no route), so the key is made once per source.
    const bySource = new Map<string, CloudWatchEvent[] | null>();
    let rejected = 0;
    for (const record of records) {
      let events = bySource.get(record.source);
      if (events === undefined) {
        const route = this.#routes[record.source];
        if (route) {
          const key = `${route.logGroup}\u0000${route.logStream}`;
          let stream = streams.get(key);
          if (!stream) streams.set(key, (stream = { route, events: [] }));
          events = stream.events;
        } else events = null;
        bySource.set(record.source, events);
      }
      if (events === null) continue;
      // CloudWatch has no empty events (message length ≥ 1): an empty line is counted, not sent.
      if (record.message.length === 0) {
        rejected++;
        continue;
      }
      events.push({ timestamp: record.timestamp, message: record.message });
    }
    for (const { route, events } of streams.values()) {
      for (const batch of cloudWatchBatches(events)) {
        const body = Buffer.from(
          JSON.stringify({ logGroupName: route.logGroup, logStreamName: route.logStream, logEvents: batch }),
          'utf8',
        );
        rejected += await this.#putBatch(route, batch.length, body, signal);
      }
    }
    return { rejected };
  }

  /**
   * Creates nothing: streams are created on their first delivery (see #putBatch), and a group
   * only when CloudWatch says it is missing. Before the first delivery the worker waits a random
   * spread offset (records wait in the spool meanwhile), so a fleet booted at once does not send
   * its CreateLogStream calls (50 TPS per account) in lockstep. See docs/fleet.md.
   */
  async prepare(signal: AbortSignal): Promise<void> {
    try {
      await this.#clock.sleep(spreadOffset(this.#firstCallSpreadMs), signal);
    } catch {
      // Aborted: the worker sees the signal itself.
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
    return Promise.resolve();
  }

  /**
   * Sends one request (creating group and stream when missing); returns how many of its `events`
   * were rejected. `body` is its JSON, made once whatever the number of attempts (see #put).
   */
  async #putBatch(
    route: CloudWatchLogsRoute,
    events: number,
    body: Buffer,
    signal: AbortSignal,
  ): Promise<number> {
    // Lazily: put first (after a restart the stream is there); on ResourceNotFound create the
    // stream, and remember that it is missing so that a retry (throttled create) goes straight
    // to the create. Until it exists the delivery fails and its records stay in the spool.
    const key = `${route.logGroup}\u0000${route.logStream}`;
    const send = async (): Promise<number> => {
      if (!this.#missing.has(key)) {
        try {
          return await this.#put(route, events, body, signal);
        } catch (error) {
          if (errorName(error) !== 'ResourceNotFoundException') throw error;
          this.#missing.add(key);
        }
      }
      await this.#createStream(route, signal);
      this.#missing.delete(key);
      return await this.#put(route, events, body, signal);
    };
    try {
      const rejected = await retry(
        async () => {
          try {
            return await send();
          } catch (error) {
            throw toShipError(error, route, signal);
          }
        },
        PUT_LOG_EVENTS_RETRY,
        {
          clock: this.#clock,
          signal,
          isRetriable: (error) => error instanceof TaupageError && error.retriable,
        },
      );
      releaseBuffer(body); // answered, so sent whole: freed now, not at the next major GC
      return rejected;
    } catch (error) {
      // The request itself is malformed for CloudWatch: retrying it would wedge the stream for
      // ever. Count its events as rejected (reported) and go on with the next batch.
      if (errorName((error as { cause?: unknown }).cause) === 'InvalidParameterException') {
        this.#log.error(
          { err: error, logGroup: route.logGroup, events },
          'CloudWatch Logs refused a batch; its events are counted as rejected',
        );
        return events;
      }
      throw error;
    }
  }

  /**
   * `body` is the request's JSON (awsJson1_1: the input as a JSON object), made with one
   * JSON.stringify. The SDK gets the command without its events and the body is put in before
   * the request is signed: its schema-driven serializer and its log filter (run on every input,
   * even without a logger) walk each of the up to 10,000 events and cost about a sixth of the
   * shipper's CPU.
   */
  async #put(route: CloudWatchLogsRoute, events: number, body: Buffer, signal: AbortSignal): Promise<number> {
    const command = new PutLogEventsCommand({
      logGroupName: route.logGroup,
      logStreamName: route.logStream,
      logEvents: [],
    });
    command.middlewareStack.add(
      (next) => (args) => {
        (args.request as { body?: unknown }).body = body;
        return next(args);
      },
      // Build step, before the SDK computes content-length and signs the request.
      { step: 'build', priority: 'high', name: 'taupagePutLogEventsBody' },
    );
    const response = await this.#client.send(command, { abortSignal: this.#deadline(signal) });
    const info = response.rejectedLogEventsInfo;
    if (!info) return 0;
    // Indexes per the API: too old and expired are prefixes (end exclusive), too new a suffix.
    const old = Math.max(info.tooOldLogEventEndIndex ?? 0, info.expiredLogEventEndIndex ?? 0);
    const tooNew = info.tooNewLogEventStartIndex === undefined ? 0 : events - info.tooNewLogEventStartIndex;
    const count = Math.min(events, old + tooNew);
    if (count > 0) {
      this.#log.warn(
        { logGroup: route.logGroup, rejected: count, rejectedLogEventsInfo: info },
        'CloudWatch Logs rejected events outside its time window',
      );
    }
    return count;
  }

  /**
   * CreateLogStream; only when that says the group is missing (ResourceNotFound), CreateLogGroup
   * and CreateLogStream again. "Already exists" (another instance, or an earlier attempt whose
   * answer was lost) is success. So an instance whose group exists (made by the stack) never
   * calls CreateLogGroup.
   */
  async #createStream(route: CloudWatchLogsRoute, signal: AbortSignal): Promise<void> {
    const ignoreExisting = (error: unknown): void => {
      if (errorName(error) !== 'ResourceAlreadyExistsException') throw error;
    };
    const createStream = (): Promise<void> =>
      this.#client
        .send(new CreateLogStreamCommand({ logGroupName: route.logGroup, logStreamName: route.logStream }), {
          abortSignal: this.#deadline(signal),
        })
        .then(() => undefined, ignoreExisting);
    this.#log.info({ logGroup: route.logGroup, logStream: route.logStream }, 'Creating log stream');
    try {
      await createStream();
      return;
    } catch (error) {
      if (errorName(error) !== 'ResourceNotFoundException') throw error;
    }
    this.#log.info({ logGroup: route.logGroup }, 'Creating log group');
    await this.#client
      .send(new CreateLogGroupCommand({ logGroupName: route.logGroup }), {
        abortSignal: this.#deadline(signal),
      })
      .catch(ignoreExisting);
    await createStream();
  }

  #deadline(signal: AbortSignal): AbortSignal {
    return AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]);
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : '';
}

function toShipError(error: unknown, route: CloudWatchLogsRoute, signal: AbortSignal): unknown {
  // Our own abort (shutdown) passes through; a per-request timeout is a retriable failure.
  if (error instanceof TaupageError || signal.aborted) return error;
  const name = errorName(error) || 'Error';
  const message = error instanceof Error ? firstLine(error.message) : String(error);
  return new TaupageError('LOG_SHIP_FAILED', `CloudWatch Logs ${route.logGroup}: ${name}: ${message}`, {
    cause: error,
    retriable: !PERMANENT.has(name),
  });
}
