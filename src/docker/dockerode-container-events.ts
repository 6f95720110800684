import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { TaupageError } from '../core/errors.js';
import {
  WATCHED_ACTIONS,
  type ContainerEvent,
  type ContainerEventAction,
  type ContainerEvents,
} from './container-events.js';

/** How long Docker may take to accept the subscription (the stream itself has no deadline). */
const CONNECT_TIMEOUT_MS = 10_000;

interface RawEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  timeNano?: number;
  time?: number;
}

/** Adapter: GET /events through dockerode, filtered to one container and the actions we watch. */
export class DockerodeContainerEvents implements ContainerEvents {
  readonly #docker: Docker;

  constructor(docker: Docker = new Docker()) {
    this.#docker = docker;
  }

  async open(name: string, signal: AbortSignal): Promise<AsyncIterable<ContainerEvent>> {
    let stream: Readable;
    const connect = AbortSignal.any([signal, AbortSignal.timeout(CONNECT_TIMEOUT_MS)]);
    const connection = new AbortController();
    const onAbort = (): void => {
      connection.abort();
    };
    connect.addEventListener('abort', onAbort, { once: true });
    try {
      stream = (await this.#docker.getEvents({
        // Docker matches `container` as a prefix of the name too; exact matching happens below.
        filters: { type: ['container'], container: [name], event: [...WATCHED_ACTIONS] },
        abortSignal: connection.signal,
      })) as unknown as Readable;
    } catch (error) {
      throw new TaupageError('DOCKER_UNAVAILABLE', 'Docker engine did not accept an events subscription', {
        cause: error,
      });
    } finally {
      connect.removeEventListener('abort', onAbort);
    }
    // From here only the caller's signal ends the stream.
    const onStop = (): void => {
      connection.abort();
    };
    signal.addEventListener('abort', onStop, { once: true });
    return parseEvents(stream, name, signal, () => {
      signal.removeEventListener('abort', onStop);
    });
  }
}

async function* parseEvents(
  stream: Readable,
  name: string,
  signal: AbortSignal,
  done: () => void,
): AsyncGenerator<ContainerEvent> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      const event = toEvent(line, name);
      if (event !== undefined) yield event;
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  } finally {
    done();
    lines.close();
    stream.destroy();
  }
}

function toEvent(line: string, name: string): ContainerEvent | undefined {
  if (line.trim() === '') return undefined;
  let raw: RawEvent;
  try {
    raw = JSON.parse(line) as RawEvent;
  } catch {
    return undefined;
  }
  const attributes = raw.Actor?.Attributes ?? {};
  // Docker 20.10 reports e.g. "exec_die" and "health_status: healthy" as actions too.
  const action = WATCHED_ACTIONS.find((watched) => watched === raw.Action);
  if (raw.Type !== 'container' || action === undefined || attributes.name !== name) return undefined;
  const exitCode = attributes.exitCode === undefined ? undefined : Number(attributes.exitCode);
  return {
    action: action satisfies ContainerEventAction,
    containerId: raw.Actor?.ID ?? '',
    name,
    exitCode: Number.isInteger(exitCode) ? exitCode : undefined,
    at: raw.timeNano === undefined ? (raw.time ?? 0) * 1000 : Math.round(raw.timeNano / 1e6),
  };
}
