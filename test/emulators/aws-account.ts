// One emulated AWS account (one Region) that several emulators share: token buckets per API at
// AWS's default quotas, scaled by a factor, so that a fleet of agents started against the same
// emulators sees the pressure a real account would. Each emulator asks `admit` before doing the
// work and, when refused, answers with its service's own throttling error (code, status and
// protocol; see docs/fleet-quotas.md). The per-test fault injection of each emulator stays as it
// is and is checked before the quota.
import type { IncomingMessage } from 'node:http';

/** A quota: `rate` requests refilled per second into a bucket of `burst` (default: `rate`). */
export interface Quota {
  readonly rate: number;
  readonly burst?: number;
}

/**
 * AWS's default quotas per account and Region (docs/fleet-quotas.md cites the pages). Keys are
 * `<signing service>:<bucket>`; several operations may share one bucket (KMS's symmetric
 * cryptographic operations, EC2's mutating actions).
 */
export const DEFAULT_QUOTAS: Readonly<Record<string, Quota>> = {
  'logs:CreateLogGroup': { rate: 10 },
  'logs:CreateLogStream': { rate: 50 },
  'logs:PutLogEvents': { rate: 5000 },
  'logs:DescribeLogStreams': { rate: 25 },
  // Decrypt, Encrypt, GenerateDataKey*, ReEncrypt, GenerateMac/VerifyMac, GenerateRandom share it.
  'kms:symmetric': { rate: 10_000 },
  'ecr:GetAuthorizationToken': { rate: 500 },
  'ecr:BatchGetImage': { rate: 2000 },
  'monitoring:PutMetricData': { rate: 500 },
  // EC2's request-token buckets: non-mutating (Describe*) 100 tokens refilled at 20/s; mutating
  // actions (AttachVolume, CreateTags, DeleteTags, ...) a smaller bucket.
  'ec2:non-mutating': { rate: 20, burst: 100 },
  'ec2:mutating': { rate: 5, burst: 50 },
  // CloudFormation publishes no per-API rate for SignalResource; see docs/fleet-quotas.md.
  'cloudformation:SignalResource': { rate: 10 },
};

/** S3's request rates are per prefix (bucket + key up to the last '/'), not per account. */
export const S3_PREFIX_QUOTAS = { write: 3500, read: 5500 } as const;
/** IMDS: 1,024 packets per second per network interface, i.e. per instance, never scaled. */
export const IMDS_PACKETS_PER_SECOND = 1024;

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    readonly capacity: number,
    private readonly now: () => number,
  ) {
    this.tokens = capacity;
    this.last = now();
  }

  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface ApiCounters {
  /** Requests that reached the quota check (authenticated, well-formed). */
  calls: number;
  /** Of those, refused with the service's throttling error. */
  throttled: number;
  /** Of those, retries: an SDK attempt > 1 (`amz-sdk-request`), or a caller's call after it was throttled. */
  retried: number;
}

export interface AccountEvent {
  readonly at: number;
  readonly api: string;
  readonly throttled: boolean;
}

export interface AwsAccountOptions {
  /** Every quota's rate and burst multiplied by this (e.g. N/1000 for N agents). Default 1. */
  scale?: number;
  /** Replace or add quotas (before scaling). */
  quotas?: Readonly<Record<string, Quota>>;
  now?: () => number;
}

export class AwsAccount {
  readonly scale: number;
  /** Counters by API name (`logs:CreateLogGroup`, `kms:Decrypt`, ...; not by bucket). */
  readonly apis = new Map<string, ApiCounters>();
  /** Per caller (the access key id of the signature, or an IMDS instance): calls by API. */
  readonly callers = new Map<string, Map<string, number>>();
  /** Per caller, every admitted or refused call in order (for an instance's timeline). */
  readonly events = new Map<string, AccountEvent[]>();

  private readonly quotas: Record<string, Quota>;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly throttledCallers = new Set<string>();
  private readonly now: () => number;

  constructor(options: AwsAccountOptions = {}) {
    this.scale = options.scale ?? 1;
    if (!(this.scale > 0)) throw new Error('scale must be > 0');
    this.quotas = { ...DEFAULT_QUOTAS, ...options.quotas };
    this.now = options.now ?? Date.now;
  }

  /** The quota of a bucket as scaled here: rate/s and burst, the burst at least 1 request. */
  scaled(bucket: string): { rate: number; burst: number } | undefined {
    const quota = this.quotas[bucket];
    if (quota === undefined) return undefined;
    return {
      rate: quota.rate * this.scale,
      burst: Math.max(1, (quota.burst ?? quota.rate) * this.scale),
    };
  }

  /**
   * Counts the call and takes a token from `bucket` (default: the API's own). False when over
   * quota: the emulator then answers with its service's throttling error. A bucket without a
   * quota admits everything (only counted).
   */
  admit(api: string, req: IncomingMessage | undefined, bucket: string = api, caller?: string): boolean {
    const who = caller ?? (req === undefined ? 'unknown' : callerOf(req));
    const ok = this.bucket(bucket)?.take() ?? true;
    this.record(api, who, !ok, req !== undefined && sdkAttempt(req) > 1);
    return ok;
  }

  /** Counts a call whose verdict was reached elsewhere (IMDS's per-instance packet limit). */
  record(api: string, caller: string, throttled: boolean, sdkRetry = false): void {
    const counters = this.counters(api);
    counters.calls++;
    const key = `${caller}\n${api}`;
    if (sdkRetry || this.throttledCallers.has(key)) counters.retried++;
    const perCaller = this.callers.get(caller) ?? new Map<string, number>();
    perCaller.set(api, (perCaller.get(api) ?? 0) + 1);
    this.callers.set(caller, perCaller);
    if (throttled) {
      counters.throttled++;
      this.throttledCallers.add(key);
    } else this.throttledCallers.delete(key);
    const events = this.events.get(caller) ?? [];
    events.push({ at: this.now(), api, throttled });
    this.events.set(caller, events);
  }

  /** S3: one bucket per prefix and direction (3,500 writes, 5,500 reads per second). */
  admitS3(req: IncomingMessage, bucketAndKey: string): boolean {
    const method = req.method ?? 'GET';
    const write = !['GET', 'HEAD'].includes(method);
    const prefix = bucketAndKey.slice(0, bucketAndKey.lastIndexOf('/') + 1) || bucketAndKey;
    const name = `s3:${write ? 'write' : 'read'}:${prefix}`;
    if (!this.buckets.has(name)) {
      const rate = (write ? S3_PREFIX_QUOTAS.write : S3_PREFIX_QUOTAS.read) * this.scale;
      this.buckets.set(name, new TokenBucket(rate, Math.max(1, rate), this.now));
    }
    return this.admit(`s3:${write ? 'PUT' : 'GET'}`, req, name);
  }

  counters(api: string): ApiCounters {
    let counters = this.apis.get(api);
    if (counters === undefined) {
      counters = { calls: 0, throttled: 0, retried: 0 };
      this.apis.set(api, counters);
    }
    return counters;
  }

  /** Calls of `api` by one caller (0 when none). */
  callsBy(caller: string, api: string): number {
    return this.callers.get(caller)?.get(api) ?? 0;
  }

  get throttledTotal(): number {
    let total = 0;
    for (const counters of this.apis.values()) total += counters.throttled;
    return total;
  }

  private bucket(name: string): TokenBucket | undefined {
    let bucket = this.buckets.get(name);
    if (bucket === undefined) {
      const quota = this.scaled(name);
      if (quota === undefined) return undefined;
      bucket = new TokenBucket(quota.rate, quota.burst, this.now);
      this.buckets.set(name, bucket);
    }
    return bucket;
  }
}

/** The access key id a SigV4 request was signed with ('anonymous' without a signature). */
export function callerOf(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  const m = typeof auth === 'string' ? /Credential=([^/\s,]+)\//.exec(auth) : null;
  return m?.[1] ?? 'anonymous';
}

/** The SDK's attempt number (`amz-sdk-request: attempt=2; max=3`, sent by the JS SDK and botocore). */
export function sdkAttempt(req: IncomingMessage): number {
  const header = req.headers['amz-sdk-request'];
  const m = typeof header === 'string' ? /attempt=(\d+)/.exec(header) : null;
  return m ? Number(m[1]) : 1;
}
