import type { Clock } from '../core/clock.js';
import { firstLine } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/**
 * The original's register-in-etcd.py: every 5 s, while the app's health check passes, the
 * instance's key is written with a 15 s TTL, so it disappears three missed beats after the app
 * stops being healthy (or the instance goes away).
 */
export const HEARTBEAT_INTERVAL_MS = 5_000;
export const HEARTBEAT_TTL_SECONDS = 15;
/** One PUT may take this long: less than an interval, so beats never pile up. */
const PUT_TIMEOUT_MS = 4_000;

export interface EtcdRegistrationOptions {
  /** The instance-local etcd (v2 API), e.g. http://127.0.0.1:2379. */
  readonly endpoint: string;
  /** The instance's name in the directory: `/v2/keys/taupage/<fqdn>`. */
  readonly fqdn: string;
  /** The key's value (registrationValue: masked config JSON). */
  readonly value: string;
  /**
   * Whether the app is healthy now (injected: the boot's health result and the container's
   * state today, the continuous health monitor later). Called once per beat.
   */
  readonly isHealthy: () => boolean;
  readonly clock: Clock;
  readonly log: Logger;
  readonly intervalMs?: number;
}

export interface EtcdRegistrationStatus {
  readonly key: string;
  /** true while the key is being kept: the app is healthy and the last PUT was taken. */
  readonly registered: boolean;
  /** The app's health at the last beat (undefined before the first). */
  readonly healthy: boolean | undefined;
  /** PUTs etcd took, beats skipped because the app was not healthy, PUTs that failed. */
  readonly beats: number;
  readonly skipped: number;
  readonly failures: number;
  /** When etcd last took a PUT (ISO 8601). */
  readonly lastBeatAt: string | undefined;
  readonly lastError: string | undefined;
}

/** The heartbeat loop. Never throws: etcd being away is logged (once per outage) and counted. */
export class EtcdRegistration {
  readonly #options: EtcdRegistrationOptions;
  readonly #url: string;
  #beats = 0;
  #skipped = 0;
  #failures = 0;
  #lastError: string | undefined;
  #lastBeatAt: number | undefined;
  #failing = false;
  #healthy: boolean | undefined;

  constructor(options: EtcdRegistrationOptions) {
    this.#options = options;
    this.#url = `${options.endpoint.replace(/\/+$/, '')}/v2/keys/taupage/${encodeURIComponent(options.fqdn)}`;
  }

  get key(): string {
    return `/taupage/${this.#options.fqdn}`;
  }

  status(): EtcdRegistrationStatus {
    return {
      key: this.key,
      registered: this.#healthy === true && this.#lastBeatAt !== undefined && !this.#failing,
      healthy: this.#healthy,
      beats: this.#beats,
      skipped: this.#skipped,
      failures: this.#failures,
      lastBeatAt: this.#lastBeatAt === undefined ? undefined : new Date(this.#lastBeatAt).toISOString(),
      lastError: this.#lastError,
    };
  }

  /** Beats until the signal aborts; resolves then. */
  async run(signal: AbortSignal): Promise<void> {
    const interval = this.#options.intervalMs ?? HEARTBEAT_INTERVAL_MS;
    while (!signal.aborted) {
      await this.beat(signal);
      await this.#options.clock.sleep(interval, signal).catch(() => undefined);
    }
  }

  /** One beat: PUT with TTL when healthy, nothing otherwise (the TTL removes the key). */
  async beat(signal: AbortSignal): Promise<void> {
    const { log } = this.#options;
    const healthy = this.#options.isHealthy();
    if (healthy !== this.#healthy) {
      log.info(
        { key: this.key, healthy },
        healthy ? 'App healthy: registering in etcd' : 'App not healthy: not registering in etcd',
      );
      this.#healthy = healthy;
    }
    if (!healthy) {
      this.#skipped++;
      return;
    }
    try {
      const body = new URLSearchParams({ value: this.#options.value, ttl: String(HEARTBEAT_TTL_SECONDS) });
      const response = await fetch(this.#url, {
        method: 'PUT',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(PUT_TIMEOUT_MS)]),
      });
      const text = await response.text();
      if (response.status !== 200 && response.status !== 201)
        throw new Error(`etcd answered HTTP ${response.status}: ${firstLine(text).slice(0, 200)}`);
      this.#beats++;
      this.#lastBeatAt = this.#options.clock.now();
      if (this.#failing) log.info({ key: this.key }, 'Registered in etcd again');
      this.#failing = false;
    } catch (error) {
      if (signal.aborted) return;
      this.#failures++;
      this.#lastError = error instanceof Error ? firstLine(error.message) : String(error);
      if (!this.#failing)
        log.warn({ key: this.key, endpoint: this.#options.endpoint, err: error }, 'Cannot register in etcd');
      this.#failing = true;
    }
  }
}

/** EC2's private DNS name (what the original's socket.getfqdn() gave on a default VPC). */
export function ec2PrivateDnsName(privateIp: string, region: string): string {
  const host = `ip-${privateIp.replaceAll('.', '-')}`;
  return region === 'us-east-1' ? `${host}.ec2.internal` : `${host}.${region}.compute.internal`;
}
