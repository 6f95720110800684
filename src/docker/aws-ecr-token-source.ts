import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { systemClock, type Clock } from '../core/clock.js';
import { TaupageError } from '../core/errors.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import { Secret } from '../core/secret.js';
import { httpStatusOf, isThrottling } from '../core/throttling.js';
import type { EcrToken, EcrTokenSource } from './ecr-token-source.js';

/**
 * GetAuthorizationToken is throttled per account and Region (500 per second by default) and a
 * fleet scaling out asks at once (amazon-ecs-agent #498). Throttling, 5xx and network errors
 * are retried here, full jitter from 500 ms doubling to 10 s within 60 s, before the pull's own
 * retry (PULL_RETRY_POLICY) counts a failed attempt. The SDK's retries are off, so the two
 * never multiply. The token is cached for its 12 hours (registry-auth-provider.ts).
 */
export const ECR_TOKEN_RETRY: RetryPolicy = {
  name: 'ecr-token',
  maxAttempts: Number.POSITIVE_INFINITY,
  initialDelayMs: 500,
  maxDelayMs: 10_000,
  multiplier: 2,
  budgetMs: 60_000,
  jitter: true,
};

function transient(error: unknown): boolean {
  const status = httpStatusOf(error);
  return isThrottling(error) || status === undefined || status >= 500;
}

/** Adapter: ECR GetAuthorizationToken (AWS JSON 1.1) with the instance role, one client per region. */
export class AwsEcrTokenSource implements EcrTokenSource {
  readonly #clients = new Map<string, ECRClient>();

  constructor(
    private readonly endpoint: string | undefined,
    private readonly clock: Clock = systemClock,
  ) {}

  async token(region: string, signal: AbortSignal): Promise<EcrToken> {
    let client = this.#clients.get(region);
    if (client === undefined) {
      client = new ECRClient({
        region,
        ...(this.endpoint === undefined ? {} : { endpoint: this.endpoint }),
        // One attempt per call: ECR_TOKEN_RETRY owns the policy.
        maxAttempts: 1,
      });
      this.#clients.set(region, client);
    }
    let output;
    try {
      const ecr = client;
      output = await retry(
        () =>
          ecr.send(new GetAuthorizationTokenCommand({}), {
            abortSignal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
          }),
        ECR_TOKEN_RETRY,
        { clock: this.clock, signal, isRetriable: (error) => !signal.aborted && transient(error) },
      );
    } catch (error) {
      const name = error instanceof Error ? error.name : 'error';
      const retriable = transient(error);
      throw new TaupageError(
        retriable ? 'IMAGE_PULL_FAILED' : 'REGISTRY_AUTH_FAILED',
        `ECR GetAuthorizationToken failed (${name})`,
        { cause: error, retriable },
      );
    }
    const data = output.authorizationData?.[0];
    const decoded = Buffer.from(data?.authorizationToken ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (data?.expiresAt === undefined || colon <= 0) {
      throw new TaupageError('REGISTRY_AUTH_FAILED', 'ECR returned no usable authorization token');
    }
    return {
      username: decoded.slice(0, colon),
      password: new Secret(decoded.slice(colon + 1)),
      expiresAt: data.expiresAt.getTime(),
    };
  }
}
