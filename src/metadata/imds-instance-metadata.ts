import type { Clock } from '../core/clock.js';
import { isTaupageError, TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { httpRequest, HttpNetworkError, type HttpResponse } from '../core/http-request.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import type { InstanceIdentity, InstanceMetadata } from './instance-metadata.js';

/**
 * IMDS at boot may not answer yet (the network is still coming up), so failures to connect,
 * 5xx and 429 are retried: full jitter from 100 ms, doubling, capped at 2 s, for at most 60 s
 * by default (Bottlerocket waits up to 300 s; a Taupage boot is already inside CloudFormation's
 * 15-minute signal window, and systemd restarts us after IMDS_UNAVAILABLE anyway).
 */
export function imdsRetryPolicy(budgetMs = 60_000): RetryPolicy {
  return {
    name: 'imds',
    maxAttempts: 1_000,
    initialDelayMs: 100,
    maxDelayMs: 2_000,
    multiplier: 2,
    budgetMs,
    jitter: true,
  };
}

/** Short-lived session tokens, like Bottlerocket: a leaked token is soon useless. */
const TOKEN_TTL_SECONDS = 300;
/** Renew a little before expiry so a request never races the token's end. */
const TOKEN_RENEW_MARGIN_MS = 30_000;
const REQUEST_TIMEOUT_MS = 2_000;

export interface ImdsOptions {
  /** Default http://169.254.169.254. */
  readonly baseUrl: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly budgetMs?: number;
}

class ImdsHttpError extends Error {
  constructor(readonly status: number) {
    super(`IMDS answered HTTP ${status}`);
  }
}

/**
 * Adapter: IMDSv2 only. Token PUT first; a 401 means the token expired, so it is renewed once
 * and the request repeated; 403 means IMDS is disabled or the hop limit blocks us (terminal).
 */
export class ImdsInstanceMetadata implements InstanceMetadata {
  readonly #baseUrl: string;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #policy: RetryPolicy;
  #token: { value: string; expiresAt: number } | undefined;
  #tokenRequest: Promise<string> | undefined;
  #identity: InstanceIdentity | undefined;

  constructor(options: ImdsOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#clock = options.clock;
    this.#log = options.log;
    this.#policy = imdsRetryPolicy(options.budgetMs);
  }

  async identity(signal: AbortSignal): Promise<InstanceIdentity> {
    if (this.#identity !== undefined) return this.#identity;
    const [body, autoScalingGroupName] = await Promise.all([
      this.#get('/latest/dynamic/instance-identity/document', signal),
      this.#autoScalingGroupName(signal),
    ]);
    let document: Record<string, unknown>;
    try {
      document = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new TaupageError('IMDS_UNAVAILABLE', 'IMDS identity document is not JSON', {
        cause: error,
        retriable: false,
      });
    }
    const text = (key: string): string | undefined =>
      typeof document[key] === 'string' ? document[key] : undefined;
    const instanceId = text('instanceId');
    const region = text('region');
    if (instanceId === undefined || region === undefined) {
      throw new TaupageError('IMDS_UNAVAILABLE', 'IMDS identity document lacks instanceId or region', {
        retriable: false,
      });
    }
    this.#identity = {
      instanceId,
      region,
      availabilityZone: text('availabilityZone') ?? `${region}a`,
      accountId: text('accountId') ?? 'unknown',
      privateIp: text('privateIp'),
      imageId: text('imageId'),
      instanceType: text('instanceType'),
      autoScalingGroupName,
    };
    return this.#identity;
  }

  /**
   * Best effort, one try: IMDS serves instance tags only when the instance allows it
   * (InstanceMetadataTags), and only ASG members have this one. Absent → undefined.
   */
  async #autoScalingGroupName(signal: AbortSignal): Promise<string | undefined> {
    try {
      const name = (await this.#getOnce('/latest/meta-data/tags/instance/aws:autoscaling:groupName', signal))
        .toString('utf8')
        .trim();
      return name === '' ? undefined : name;
    } catch {
      return undefined;
    }
  }

  /**
   * The spot interruption notice (`spot/instance-action`), polled by the lifecycle watcher:
   * undefined while there is none (404). One try per poll: the next poll is the retry.
   */
  async spotInstanceAction(signal: AbortSignal): Promise<{ action: string; time: string } | undefined> {
    const body = await this.#optional('/latest/meta-data/spot/instance-action', signal);
    if (body === undefined) return undefined;
    let notice: unknown;
    try {
      notice = JSON.parse(body);
    } catch (error) {
      throw new TaupageError('IMDS_UNAVAILABLE', 'IMDS spot/instance-action is not JSON', { cause: error });
    }
    const { action, time } = (notice ?? {}) as Record<string, unknown>;
    if (typeof action !== 'string' || typeof time !== 'string')
      throw new TaupageError('IMDS_UNAVAILABLE', 'IMDS spot/instance-action lacks action or time');
    return { action, time };
  }

  /** `autoscaling/target-lifecycle-state` (InService, Terminated, Warmed:Stopped, …); undefined outside an ASG. */
  async autoScalingTargetLifecycleState(signal: AbortSignal): Promise<string | undefined> {
    return (await this.#optional('/latest/meta-data/autoscaling/target-lifecycle-state', signal))?.trim();
  }

  /** The primary interface's subnet (`mac`, then `network/interfaces/macs/<mac>/subnet-id`), for nat_gateways. */
  async subnetId(signal: AbortSignal): Promise<string | undefined> {
    const mac = (await this.#get('/latest/meta-data/mac', signal)).toString('utf8').trim();
    return (
      await this.#optional(`/latest/meta-data/network/interfaces/macs/${mac}/subnet-id`, signal, true)
    )?.trim();
  }

  /** `public-ipv4` for `${public_ipv4}` in volume names; undefined when the instance has none (404). */
  async publicIpv4(signal: AbortSignal): Promise<string | undefined> {
    return (await this.#optional('/latest/meta-data/public-ipv4', signal, true))?.trim();
  }

  /**
   * 404 → undefined; anything else not 200 → IMDS_UNAVAILABLE. One GET for the polls (the next
   * poll is the retry); `retried` for the boot's reads, where one slow answer must not fail a
   * boot that the user-data read survived (found by the VM test under load).
   */
  async #optional(path: string, signal: AbortSignal, retried = false): Promise<string | undefined> {
    try {
      return (retried ? await this.#get(path, signal) : await this.#getOnce(path, signal)).toString('utf8');
    } catch (error) {
      if (retried && isTaupageError(error)) throw error; // #get's own verdict
      if (error instanceof ImdsHttpError && error.status === 404) return undefined;
      if (signal.aborted) throw error;
      throw new TaupageError(
        'IMDS_UNAVAILABLE',
        `IMDS did not answer for ${path} (${(error as Error).message})`,
        {
          cause: error,
        },
      );
    }
  }

  async identitySignature(signal: AbortSignal): Promise<string> {
    return (await this.#get('/latest/dynamic/instance-identity/pkcs7', signal)).toString('utf8').trim();
  }

  async userData(signal: AbortSignal): Promise<Buffer> {
    try {
      return await this.#get('/latest/user-data', signal);
    } catch (error) {
      if (error instanceof ImdsHttpError && error.status === 404) {
        throw new TaupageError(
          'USER_DATA_NOT_FOUND',
          'This instance has no user data (IMDS answered 404): nothing to run',
        );
      }
      throw error;
    }
  }

  async #get(path: string, signal: AbortSignal): Promise<Buffer> {
    try {
      return await retry(() => this.#getOnce(path, signal), this.#policy, {
        clock: this.#clock,
        signal,
        isRetriable: isTransient,
        onRetry: (error, attempt, delayMs) => {
          this.#log.warn(
            { path, attempt, delayMs, reason: (error as Error).message },
            'IMDS not reachable yet, retrying',
          );
        },
      });
    } catch (error) {
      if (signal.aborted) throw error;
      if (error instanceof ImdsHttpError) {
        if (error.status === 403) {
          throw new TaupageError(
            'IMDS_FORBIDDEN',
            `IMDS refused access to ${path} (403: metadata disabled or hop limit too low)`,
          );
        }
        if (error.status === 404) throw error;
        throw new TaupageError('IMDS_UNAVAILABLE', `IMDS kept failing for ${path} (HTTP ${error.status})`, {
          cause: error,
        });
      }
      throw new TaupageError('IMDS_UNAVAILABLE', `IMDS at ${this.#baseUrl} did not answer for ${path}`, {
        cause: error,
      });
    }
  }

  async #getOnce(path: string, signal: AbortSignal): Promise<Buffer> {
    let response = await this.#fetch(
      path,
      'GET',
      { 'X-aws-ec2-metadata-token': await this.#sessionToken(signal) },
      signal,
    );
    if (response.status === 401) {
      // The token expired (or IMDS restarted): renew once and repeat.
      this.#token = undefined;
      response = await this.#fetch(
        path,
        'GET',
        { 'X-aws-ec2-metadata-token': await this.#sessionToken(signal) },
        signal,
      );
    }
    if (response.status !== 200) throw new ImdsHttpError(response.status);
    return response.body;
  }

  /** One token for concurrent requests: the first caller fetches it, the others wait for it. */
  #sessionToken(signal: AbortSignal): Promise<string> {
    if (this.#token !== undefined && this.#clock.now() < this.#token.expiresAt)
      return Promise.resolve(this.#token.value);
    this.#tokenRequest ??= this.#fetchToken(signal).finally(() => {
      this.#tokenRequest = undefined;
    });
    return this.#tokenRequest;
  }

  async #fetchToken(signal: AbortSignal): Promise<string> {
    const response = await this.#fetch(
      '/latest/api/token',
      'PUT',
      { 'X-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) },
      signal,
    );
    if (response.status !== 200) throw new ImdsHttpError(response.status);
    const value = response.body.toString('utf8').trim();
    this.#token = { value, expiresAt: this.#clock.now() + TOKEN_TTL_SECONDS * 1000 - TOKEN_RENEW_MARGIN_MS };
    return value;
  }

  #fetch(
    path: string,
    method: string,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<HttpResponse> {
    // node:http, not fetch: the first fetch loads undici (130–200 ms), on the boot's critical path.
    // IMDS never redirects; a 3xx is not 200 and fails like any other unexpected status.
    return httpRequest(`${this.#baseUrl}${path}`, { method, headers, signal, timeoutMs: REQUEST_TIMEOUT_MS });
  }
}

function isTransient(error: unknown): boolean {
  if (error instanceof ImdsHttpError) return error.status >= 500 || error.status === 429;
  // No answer: connection refused/reset, per-request timeout.
  return error instanceof HttpNetworkError;
}
