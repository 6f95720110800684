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
  ): AsyncIterable<readonly ContainerLogEntry[]>;
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
 * the hottest function of the shipper at 50,000 lines/s). Returns the `since` form and the
 * timestamp in milliseconds.
 */
export class DockerTimestampParser {
  #secondsText = '';
  #epochSeconds = 0;

  parse(timestamp: string): { since: string; millis: number } {
    if (timestamp.length !== 30 || timestamp[19] !== '.' || timestamp[29] !== 'Z') {
      const since = dockerTimestampToSince(timestamp);
      return { since, millis: sinceToMillis(since) };
    }
    const secondsText = timestamp.slice(0, 19);
    if (secondsText !== this.#secondsText) {
      this.#epochSeconds = Date.parse(`${secondsText}Z`) / 1000;
      this.#secondsText = secondsText;
    }
    const fraction = timestamp.slice(20, 29);
    return {
      since: `${this.#epochSeconds}.${fraction}`,
      millis: this.#epochSeconds * 1000 + Math.floor(Number(fraction) / 1e6),
    };
  }
}

/** "seconds.nanoseconds" → milliseconds since the epoch. */
export function sinceToMillis(since: string): number {
  const [seconds = '0', nanos = '0'] = since.split('.');
  return Number(seconds) * 1000 + Math.floor(Number(nanos.padEnd(9, '0')) / 1e6);
}
