import type { ContainerLogFiles } from './docker-log-file-follower.js';

/** One entry of a container's log as the Docker logs API returns it with `timestamps=1`. */
export interface ContainerLogEntry {
  readonly stream: 'stdout' | 'stderr';
  /** Docker's timestamp, RFC 3339 with nanoseconds ("2026-11-21T23:25:35.123456789Z"). */
  readonly timestamp: string;
  /** The line without its newline. */
  readonly line: Buffer;
  /** Docker splits lines longer than 16 KiB; every piece but the last is partial. */
  readonly partial: boolean;
}

/**
 * Port: follows a container's stdout and stderr through the Docker logs API (so `docker logs`
 * and the container's own log driver keep working). Yields entries at or after `since`
 * ("seconds.nanoseconds", Docker's inclusive filter); ends when the container stops, and at once
 * when it does not exist. Throws TaupageError DOCKER_UNAVAILABLE when the engine does not answer.
 * Entries come in batches (those of one chunk of the HTTP stream): one await per batch, not per
 * line, which was a tenth of the shipper's CPU at tens of thousands of lines per second.
 */
export interface ContainerLogReader {
  follow(
    container: string,
    since: string | undefined,
    signal: AbortSignal,
    /** `follow: false`: what the log holds now, then the end (Docker's `follow=0`). */
    options?: { readonly follow?: boolean },
  ): AsyncIterable<readonly ContainerLogEntry[]>;

  /**
   * Where the container's log driver keeps its files (`local`, `json-file`), read directly
   * instead of through `follow`; null for a driver without files (journald, syslog…),
   * undefined when the container does not exist.
   */
  logFiles?(container: string, signal: AbortSignal): Promise<ContainerLogFiles | null | undefined>;
}

/** "2026-11-21T23:25:35.123456789Z" → "1795303535.123456789" (Docker's `since` format). */
export function dockerTimestampToSince(timestamp: string): string {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(timestamp);
  if (!match) throw new RangeError(`not a Docker timestamp: ${timestamp}`);
  const [, seconds = '', fraction = '', zone = 'Z'] = match;
  const epochSeconds = Date.parse(`${seconds}${zone}`) / 1000;
  return `${epochSeconds}.${fraction.padEnd(9, '0')}`;
}

/**
 * The same for a stream of timestamps, faster: Docker's RFC3339NanoFixed form has a fixed layout,
 * and lines come many per second, so the date part is parsed once per second of log (this was
 * the hottest function of the shipper at 50,000 lines/s), and the milliseconds are read from
 * the digits without making strings.
 */
export class DockerTimestampParser {
  #secondsText = '';
  #epochSeconds = 0;

  /** Milliseconds since the epoch. */
  millis(timestamp: string): number {
    if (!this.#fixed(timestamp)) return sinceToMillis(dockerTimestampToSince(timestamp));
    const digit = (at: number): number => timestamp.charCodeAt(at) - 0x30;
    return this.#epochSeconds * 1000 + digit(20) * 100 + digit(21) * 10 + digit(22);
  }

  /** Docker's `since` form: "seconds.nanoseconds". */
  since(timestamp: string): string {
    if (!this.#fixed(timestamp)) return dockerTimestampToSince(timestamp);
    return `${this.#epochSeconds}.${timestamp.slice(20, 29)}`;
  }

  parse(timestamp: string): { since: string; millis: number } {
    return { since: this.since(timestamp), millis: this.millis(timestamp) };
  }

  /** True (and the seconds parsed) for the fixed layout "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ". */
  #fixed(timestamp: string): boolean {
    if (timestamp.length !== 30 || timestamp[19] !== '.' || timestamp[29] !== 'Z') return false;
    if (!timestamp.startsWith(this.#secondsText) || this.#secondsText === '') {
      const secondsText = timestamp.slice(0, 19);
      const epochMillis = Date.parse(`${secondsText}Z`);
      if (Number.isNaN(epochMillis)) return false;
      this.#epochSeconds = epochMillis / 1000;
      this.#secondsText = secondsText;
    }
    return true;
  }
}

/** "seconds.nanoseconds" → milliseconds since the epoch. */
export function sinceToMillis(since: string): number {
  const [seconds = '0', nanos = '0'] = since.split('.');
  return Number(seconds) * 1000 + Math.floor(Number(nanos.padEnd(9, '0')) / 1e6);
}
