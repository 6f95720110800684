// Wire-level emulator of Amazon CloudWatch PutMetricData as the current @aws-sdk/client-cloudwatch
// speaks it: AWS JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.PutMetricData`,
// `Content-Type: application/x-amz-json-1.0`), query-compatible (`x-amzn-query-mode: true`, errors
// carry `x-amzn-query-error: Code;Sender`), gzip request bodies (the operation's requestCompression
// trait), SigV4 for service `monitoring`. It enforces the PutMetricData limits, stricter than AWS
// where AWS is lenient, so a client that passes here passes there.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import {
  AwsError,
  BodyTooLargeError,
  closeServer,
  listen,
  readBody,
  sendJson,
  verifySigV4,
} from './http-util.js';
import type { AcceptedCredential } from './http-util.js';
import type { AwsAccount } from './aws-account.js';

const CONTENT_TYPE = 'application/x-amz-json-1.0';
const TARGET_PREFIX = 'GraniteServiceVersion20100801.';
/** PutMetricData: 1 MB per request (compressed or not, we check both), 1,000 datums, 30 dimensions. */
export const CLOUDWATCH_LIMITS = {
  maxRequestBytes: 1_000_000,
  maxDatums: 1_000,
  maxDimensions: 30,
  maxValues: 150,
  maxAbsValue: 2 ** 360,
} as const;
const UNITS = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
]);
const INPUT_MEMBERS = new Set(['Namespace', 'MetricData', 'EntityMetricData', 'StrictEntityValidation']);
const DATUM_MEMBERS = new Set([
  'MetricName',
  'Dimensions',
  'Timestamp',
  'Value',
  'StatisticValues',
  'Values',
  'Counts',
  'Unit',
  'StorageResolution',
]);
/** CloudWatch accepts datums up to two weeks old and two hours in the future. */
const MAX_AGE_S = 14 * 24 * 3600;
const MAX_FUTURE_S = 2 * 3600;

export interface ReceivedDatum {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly value: number;
  readonly unit: string | undefined;
  /** Seconds since the epoch, as sent. */
  readonly timestamp: number | undefined;
}

export interface ReceivedRequest {
  readonly datums: number;
  readonly bodyBytes: number;
  readonly gzip: boolean;
  readonly queryMode: boolean;
}

export interface CloudWatchEmulatorOptions {
  region?: string;
  /** Accepted credentials (default: any access key id). With a secret, SigV4 is fully verified. */
  credentials?: ReadonlyArray<AcceptedCredential>;
  /** A shared account: its PutMetricData quota applies (400 Throttling, as the fault below). */
  account?: AwsAccount;
}

export class CloudWatchEmulator {
  readonly region: string;
  /** Every datum accepted, in arrival order. */
  readonly datums: ReceivedDatum[] = [];
  /** Every authenticated PutMetricData request, accepted or not. */
  readonly requests: ReceivedRequest[] = [];
  /** Requests refused, with the error code (limits, validation, injected faults). */
  readonly rejections: string[] = [];
  private readonly faults: Array<{ code: string; queryCode: string; status: number }> = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly credentials: ReadonlyArray<AcceptedCredential> | undefined,
    options: CloudWatchEmulatorOptions,
  ) {
    this.region = options.region ?? 'eu-central-1';
    this.account = options.account;
  }

  private readonly account: AwsAccount | undefined;

  static async start(options: CloudWatchEmulatorOptions = {}): Promise<CloudWatchEmulator> {
    const ref: { emulator?: CloudWatchEmulator } = {};
    const { server, url } = await listen(async (req, res) => {
      if (!ref.emulator) throw new Error('not started');
      await ref.emulator.handle(req, res);
    });
    ref.emulator = new CloudWatchEmulator(server, url, options.credentials, options);
    return ref.emulator;
  }

  async close(): Promise<void> {
    await closeServer(this.server);
  }

  /** The next `count` requests get 400 Throttling (what PutMetricData answers past the TPS quota). */
  throttleNext(count: number): void {
    for (let i = 0; i < count; i++)
      this.faults.push({ code: 'ThrottlingException', queryCode: 'Throttling', status: 400 });
  }

  /** The next `count` requests get 500 InternalServiceFault. */
  failNext(count: number): void {
    for (let i = 0; i < count; i++)
      this.faults.push({ code: 'InternalServiceFault', queryCode: 'InternalServiceError', status: 500 });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers = { 'x-amzn-requestid': randomUUID() };
    try {
      const raw = await readBody(req, CLOUDWATCH_LIMITS.maxRequestBytes);
      if (req.method !== 'POST' || req.url !== '/')
        throw new AwsError('UnknownOperationException', 'CloudWatch (JSON 1.0) accepts only POST /');
      verifySigV4(req, raw, this.region, 'monitoring', this.credentials);
      const target = req.headers['x-amz-target'];
      if (typeof target !== 'string' || !target.startsWith(TARGET_PREFIX))
        throw new AwsError('UnknownOperationException', '');
      if (target.slice(TARGET_PREFIX.length) !== 'PutMetricData')
        throw new AwsError('UnknownOperationException', `${target} is not emulated`);
      if (req.headers['content-type'] !== CONTENT_TYPE)
        throw new AwsError('SerializationException', `Content-Type must be ${CONTENT_TYPE}`);
      const encoding = req.headers['content-encoding'];
      if (encoding !== undefined && encoding !== 'gzip')
        throw new AwsError('InvalidParameterValueException', `Unsupported Content-Encoding ${encoding}`);
      let body = raw;
      if (encoding === 'gzip') {
        try {
          body = gunzipSync(raw, { maxOutputLength: CLOUDWATCH_LIMITS.maxRequestBytes });
        } catch {
          throw new AwsError(
            'RequestEntityTooLarge',
            'Request size (uncompressed) exceeded 1000000 bytes',
            413,
          );
        }
      }
      const fault = this.faults.shift();
      if (fault)
        throw Object.assign(new AwsError(fault.code, 'Rate exceeded', fault.status), {
          queryCode: fault.queryCode,
        });
      if (this.account?.admit('monitoring:PutMetricData', req) === false)
        throw Object.assign(new AwsError('ThrottlingException', 'Rate exceeded', 400), {
          queryCode: 'Throttling',
        });
      const datums = this.parse(body);
      this.requests.push({
        datums: datums.length,
        bodyBytes: body.length,
        gzip: encoding === 'gzip',
        queryMode: req.headers['x-amzn-query-mode'] === 'true',
      });
      this.datums.push(...datums);
      sendJson(res, 200, {}, CONTENT_TYPE, headers);
    } catch (err) {
      const e =
        err instanceof AwsError
          ? err
          : err instanceof BodyTooLargeError
            ? new AwsError(
                'RequestEntityTooLarge',
                `Request size exceeded ${CLOUDWATCH_LIMITS.maxRequestBytes} bytes`,
                413,
              )
            : new AwsError('InternalServiceFault', 'internal error', 500);
      if (e.code !== 'MissingAuthenticationTokenException' && e.code !== 'InvalidSignatureException')
        this.rejections.push(e.code);
      const queryCode = (e as { queryCode?: string }).queryCode ?? e.code.replace(/Exception$/, '');
      sendJson(res, e.status, { __type: e.code, message: e.message }, CONTENT_TYPE, {
        ...headers,
        'x-amzn-query-error': `${queryCode};${e.status >= 500 ? 'Receiver' : 'Sender'}`,
      });
    }
  }

  private parse(body: Buffer): ReceivedDatum[] {
    let input: unknown;
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      throw new AwsError('SerializationException', 'Request body is not valid JSON');
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw new AwsError('SerializationException', 'Request body must be a JSON object');
    const record = input as Record<string, unknown>;
    const unknown = Object.keys(record).find((key) => !INPUT_MEMBERS.has(key));
    if (unknown !== undefined) throw new AwsError('SerializationException', `Unexpected member '${unknown}'`);
    const namespace = record.Namespace;
    if (typeof namespace !== 'string' || namespace.length < 1 || namespace.length > 255)
      throw invalid('The parameter Namespace must be 1 to 255 characters.');
    if (namespace.startsWith('AWS/')) throw invalid('The value AWS/ for parameter Namespace is invalid.');
    const data = record.MetricData;
    if (!Array.isArray(data) || data.length === 0)
      throw new AwsError('MissingRequiredParameterException', 'The parameter MetricData is required.');
    if (data.length > CLOUDWATCH_LIMITS.maxDatums)
      throw invalid(
        `The collection MetricData must not have a size greater than ${CLOUDWATCH_LIMITS.maxDatums}.`,
      );
    const now = Date.now() / 1000;
    return data.map((item: unknown, index) => {
      const where = `MetricData.member.${index + 1}`;
      if (typeof item !== 'object' || item === null)
        throw new AwsError('SerializationException', `${where} is not an object`);
      const datum = item as Record<string, unknown>;
      const extra = Object.keys(datum).find((key) => !DATUM_MEMBERS.has(key));
      if (extra !== undefined) throw new AwsError('SerializationException', `Unexpected member '${extra}'`);
      const name = datum.MetricName;
      if (typeof name !== 'string' || name.length < 1 || name.length > 255)
        throw invalid(`The parameter ${where}.MetricName must be 1 to 255 characters.`);
      // Strict: this emulator takes single values only (taupage never sends Values/StatisticValues).
      if (datum.Values !== undefined || datum.StatisticValues !== undefined || datum.Counts !== undefined)
        throw invalid(`${where}: only Value is supported by the emulator`);
      // NaN and ±Infinity arrive as the strings "NaN"/"Infinity" in AWS JSON; CloudWatch rejects them.
      const value = datum.Value;
      if (
        typeof value !== 'number' ||
        !Number.isFinite(value) ||
        Math.abs(value) > CLOUDWATCH_LIMITS.maxAbsValue
      )
        throw invalid(`The value ${String(value)} for parameter ${where}.Value is invalid.`);
      const unit = datum.Unit;
      if (unit !== undefined && (typeof unit !== 'string' || !UNITS.has(unit)))
        throw invalid(`The value for parameter ${where}.Unit is invalid.`);
      const timestamp = datum.Timestamp;
      if (timestamp !== undefined) {
        if (typeof timestamp !== 'number')
          throw new AwsError('SerializationException', `${where}.Timestamp must be epoch seconds`);
        if (timestamp < now - MAX_AGE_S || timestamp > now + MAX_FUTURE_S)
          throw invalid(`The parameter ${where}.Timestamp must specify a time within the past two weeks.`);
      }
      const rawDimensions = datum.Dimensions ?? [];
      if (!Array.isArray(rawDimensions))
        throw new AwsError('SerializationException', `${where}.Dimensions is not a list`);
      if (rawDimensions.length > CLOUDWATCH_LIMITS.maxDimensions)
        throw invalid(
          `The collection ${where}.Dimensions must not have a size greater than ${CLOUDWATCH_LIMITS.maxDimensions}.`,
        );
      const dimensions: Record<string, string> = {};
      for (const dimension of rawDimensions as unknown[]) {
        const d = dimension as { Name?: unknown; Value?: unknown };
        if (typeof d.Name !== 'string' || d.Name.length < 1 || d.Name.length > 255)
          throw invalid(`${where}.Dimensions: Name must be 1 to 255 characters.`);
        if (typeof d.Value !== 'string' || d.Value.length < 1 || d.Value.length > 1024)
          throw invalid(`${where}.Dimensions: Value must be 1 to 1024 characters.`);
        if (Object.hasOwn(dimensions, d.Name))
          throw new AwsError(
            'InvalidParameterCombinationException',
            `${where}: duplicate dimension ${d.Name}.`,
          );
        dimensions[d.Name] = d.Value;
      }
      return {
        namespace,
        metricName: name,
        dimensions,
        value,
        unit,
        timestamp,
      };
    });
  }
}

function invalid(message: string): AwsError {
  return new AwsError('InvalidParameterValueException', message);
}
