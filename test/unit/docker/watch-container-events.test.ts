import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/core/clock.js';
import {
  EVENTS_RECONNECT,
  watchContainerEvents,
  type ContainerEvent,
  type ContainerEvents,
} from '../../../src/docker/container-events.js';

/** A clock whose sleeps return at once and move time forward, recording each delay. */
function steppingClock(): Clock & { sleeps: number[] } {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: (ms, signal) => {
      if (signal?.aborted) return Promise.reject(new Error('aborted'));
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

function event(action: ContainerEvent['action']): ContainerEvent {
  return { action, containerId: 'c1', name: 'app', exitCode: action === 'die' ? 3 : undefined, at: 0 };
}

async function* play(events: readonly ContainerEvent[]): AsyncGenerator<ContainerEvent> {
  for (const item of events) {
    await Promise.resolve(); // one stream chunk at a time, as from a socket
    yield item;
  }
}

/** Plays scripted connections: a list of events (then the stream ends), or an error to connect. */
class ScriptedEvents implements ContainerEvents {
  opened = 0;
  constructor(
    readonly script: (readonly ContainerEvent[] | Error)[],
    readonly onExhausted: () => void,
  ) {}

  open(): Promise<AsyncIterable<ContainerEvent>> {
    const next = this.script[this.opened++];
    if (next === undefined) {
      this.onExhausted();
      return Promise.reject(new Error('script played'));
    }
    if (next instanceof Error) return Promise.reject(next);
    return Promise.resolve(play(next));
  }
}

describe('watchContainerEvents: lossy stream, reconnect with backoff, a gap signal after every connect', () => {
  it('delivers events, reconnects after the stream ends or fails, backing off and reporting each gap', async () => {
    const controller = new AbortController();
    const clock = steppingClock();
    const events = new ScriptedEvents(
      [[event('die'), event('start')], new Error('ECONNREFUSED'), new Error('ECONNREFUSED'), [event('oom')]],
      () => {
        controller.abort();
      },
    );
    const seen: string[] = [];
    let gaps = 0;
    await watchContainerEvents({
      events,
      name: 'app',
      clock,
      log: pino({ level: 'silent' }),
      onEvent: (e) => seen.push(e.action),
      onGap: () => gaps++,
      signal: controller.signal,
    });
    expect(seen).toEqual(['die', 'start', 'oom']);
    expect(gaps).toBe(2); // the two connections that succeeded
    expect(clock.sleeps).toEqual([1_000, 2_000, 4_000, 8_000]);
  });

  it('caps the backoff and resets it after a connection that lasted', async () => {
    const controller = new AbortController();
    const clock = steppingClock();
    const failures = Array.from({ length: 8 }, () => new Error('down'));
    const events = new ScriptedEvents(failures, () => {
      controller.abort();
    });
    await watchContainerEvents({
      events,
      name: 'app',
      clock,
      log: pino({ level: 'silent' }),
      onEvent: () => undefined,
      onGap: () => undefined,
      signal: controller.signal,
    });
    expect(Math.max(...clock.sleeps)).toBe(EVENTS_RECONNECT.maxDelayMs);
    expect(clock.sleeps.slice(0, 6)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000]);
  });

  it('returns at once when aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const events = new ScriptedEvents([], () => undefined);
    await watchContainerEvents({
      events,
      name: 'app',
      clock: steppingClock(),
      log: pino({ level: 'silent' }),
      onEvent: () => undefined,
      onGap: () => undefined,
      signal: controller.signal,
    });
    expect(events.opened).toBe(0);
  });
});
