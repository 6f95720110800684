import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';

/** The Docker event actions the supervisor cares about (Docker sends more; they are dropped). */
export const WATCHED_ACTIONS = ['start', 'die', 'oom', 'restart', 'stop', 'kill', 'destroy'] as const;
export type ContainerEventAction = (typeof WATCHED_ACTIONS)[number];

export interface ContainerEvent {
  readonly action: ContainerEventAction;
  readonly containerId: string;
  readonly name: string;
  /** `die` only: the exit code Docker reported. */
  readonly exitCode: number | undefined;
  /** When Docker says it happened (ms since the epoch). */
  readonly at: number;
}

/**
 * Port: Docker's event stream for one container, by name. `open` resolves once Docker accepted
 * the subscription (rejects when it cannot connect); the iterable ends with the connection
 * (dockerd restarted, connection dropped) or when `signal` aborts. Events are lossy by nature —
 * nothing is replayed across a reconnect — so the consumer re-inspects after every event and
 * every gap (see `watchContainerEvents`).
 */
export interface ContainerEvents {
  open(name: string, signal: AbortSignal): Promise<AsyncIterable<ContainerEvent>>;
}

/**
 * Reconnect backoff: 1 s doubling to 30 s. dockerd restarts in a few seconds (live-restore
 * keeps the app running meanwhile); 30 s caps the blind spot, and the periodic re-inspect
 * covers it anyway. A connection that lasted a minute resets the backoff.
 */
export const EVENTS_RECONNECT = { initialDelayMs: 1_000, maxDelayMs: 30_000, stableMs: 60_000 } as const;

export interface WatchOptions {
  readonly events: ContainerEvents;
  readonly name: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly onEvent: (event: ContainerEvent) => void;
  /** Called after every (re)connection, the first included: events may have been missed, inspect now. */
  readonly onGap: () => void;
  readonly signal: AbortSignal;
}

/** Follows the container's events until `signal` aborts, reconnecting with backoff. Never rejects. */
export async function watchContainerEvents(options: WatchOptions): Promise<void> {
  const { clock, log, signal } = options;
  let delayMs: number = EVENTS_RECONNECT.initialDelayMs;
  // A function, not the property: the compiler would keep it narrowed to false across awaits.
  const stopped = (): boolean => signal.aborted;
  while (!stopped()) {
    const startedAt = clock.now();
    try {
      const stream = await options.events.open(options.name, signal);
      options.onGap();
      for await (const event of stream) options.onEvent(event);
      if (stopped()) return;
      log.warn('Docker event stream ended; reconnecting');
    } catch (error) {
      if (stopped()) return;
      log.warn({ err: error, retryInMs: delayMs }, 'Cannot follow Docker events; retrying');
    }
    if (clock.now() - startedAt >= EVENTS_RECONNECT.stableMs) delayMs = EVENTS_RECONNECT.initialDelayMs;
    try {
      await clock.sleep(delayMs, signal);
    } catch {
      return;
    }
    delayMs = Math.min(EVENTS_RECONNECT.maxDelayMs, delayMs * 2);
  }
}
