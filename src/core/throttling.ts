/**
 * Whether an AWS answer says "slow down": the account's (or a prefix's) request quota is spent
 * for now and the same request will succeed later. One list for every adapter, so no call path
 * forgets a service's spelling. The names are the SDK's own throttling list
 * (@smithy/service-error-classification THROTTLING_ERROR_CODES): CloudWatch Logs, KMS and ECR
 * say ThrottlingException, CloudFormation, ELB and CloudWatch (query protocol) say Throttling,
 * EC2 says RequestLimitExceeded, S3 says SlowDown (503), API Gateway-fronted services
 * TooManyRequestsException (429). Classified by error name and HTTP status, never by message.
 */
export const THROTTLING_ERROR_NAMES: ReadonlySet<string> = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'RequestLimitExceeded',
  'EC2ThrottledException',
  'SlowDown',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'BandwidthLimitExceeded',
  'PriorRequestNotComplete',
]);

/** HTTP statuses that mean "throttled" whatever the body says: 429 Too Many Requests, 503 Slow Down. */
const THROTTLING_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/** The HTTP status of an SDK error (`$metadata.httpStatusCode`), if it has one. */
export function httpStatusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** Whether `error` (an SDK error, or one of ours wrapping it as `cause`) is throttling. */
export function isThrottling(error: unknown): boolean {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const name = e instanceof Error ? e.name : '';
    const status = httpStatusOf(e);
    if (THROTTLING_ERROR_NAMES.has(name) || (status !== undefined && THROTTLING_STATUSES.has(status)))
      return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A random delay in [0, spreadMs) before a non-urgent first call (metric publishing, log-stream
 * creation, a scheduled refresh), so a fleet booted at once does not call in lockstep.
 */
export function spreadOffset(spreadMs: number, random: () => number = Math.random): number {
  return spreadMs <= 0 ? 0 : Math.floor(random() * spreadMs);
}
