import type { ContainerEvent } from './container-events.js';
import type { ContainerInfo } from './container-runtime.js';

/**
 * A crash loop: this many restarts by Docker inside the window. Docker's own backoff (100 ms,
 * doubling, reset after 10 s of running) packs a crashing app's 10 retries into about 100 s, and
 * an app that crashes every minute or two is just as broken; 3 in 5 minutes catches both
 * without flagging a single crash.
 */
export const CRASH_LOOP = { restarts: 3, windowMs: 5 * 60_000 } as const;

/** How many occurrences GET /status keeps (newest last). */
export const MAX_RECENT_OCCURRENCES = 20;

export type OccurrenceKind = 'restarted' | 'exited' | 'gave-up' | 'oom-killed' | 'crash-loop' | 'removed';

/** Something that happened to the container, reported once (log line, /status, metric). */
export interface ContainerOccurrence {
  readonly kind: OccurrenceKind;
  readonly at: string;
  /** One line for the log and /status. */
  readonly message: string;
  readonly exitCode: number | undefined;
  /** restarted: how many restarts this observation accounts for. */
  readonly count: number;
  /** Seen on the first look after the agent started: it happened while the agent was down. */
  readonly whileAgentDown: boolean;
}

/** What the agent last knew about the container, persisted across agent restarts. */
export interface LastSeenContainer {
  readonly id: string;
  readonly restartCount: number;
  readonly finishedAt: string | undefined;
}

/** The container's story so far, as GET /status shows it. */
export interface ContainerHistory {
  restarts: number;
  exits: number;
  oomKills: number;
  lastExit: { exitCode: number | undefined; oomKilled: boolean; at: string } | undefined;
  crashLoop: { restarts: number; windowSeconds: number; since: string } | undefined;
  /** Docker's restart policy gave up: the container exited non-zero after its last retry. */
  gaveUp: boolean;
  /** Times the agent recreated the container after it was removed under it. */
  recreated: number;
  recent: ContainerOccurrence[];
}

export function emptyHistory(): ContainerHistory {
  return {
    restarts: 0,
    exits: 0,
    oomKills: 0,
    lastExit: undefined,
    crashLoop: undefined,
    gaveUp: false,
    recreated: 0,
    recent: [],
  };
}

export interface ContainerWatchOptions {
  /** Docker's `on-failure:N` retry count (the spec's restart policy). */
  readonly maximumRetryCount: number;
  /** The last state a previous agent run saw; undefined: none (first run, or state lost). */
  readonly lastSeen: LastSeenContainer | undefined;
  readonly history?: ContainerHistory;
}

/**
 * Turns inspects and Docker events into occurrences. Pure: no I/O, time comes in as `now`.
 * Inspects are the truth (events are lossy); events add what an inspect cannot see after the
 * fact — the exit code of a run Docker already restarted, an OOM kill of a child process.
 */
export class ContainerWatch {
  readonly history: ContainerHistory;
  readonly #maximumRetryCount: number;
  #base: LastSeenContainer | undefined;
  #first = true;
  #removedReported = false;
  /** Exit code of the latest `die` event, for restarts seen only as a count. */
  #lastDieExitCode: number | undefined;
  /** An `oom` event arrived since the last exit was accounted for. */
  #oomEventSinceExit = false;
  #restartTimes: number[] = [];

  constructor(options: ContainerWatchOptions) {
    this.#maximumRetryCount = options.maximumRetryCount;
    this.#base = options.lastSeen;
    this.history = options.history ?? emptyHistory();
  }

  /** What to persist so the next agent run can tell what happened while it was down. */
  get lastSeen(): LastSeenContainer | undefined {
    return this.#base;
  }

  /** A Docker event; the caller inspects right after (an event never replaces the inspect). */
  event(event: ContainerEvent, now: number): ContainerOccurrence[] {
    if (this.#base !== undefined && event.containerId !== this.#base.id) return [];
    if (event.action === 'die' && event.exitCode !== undefined) this.#lastDieExitCode = event.exitCode;
    if (event.action !== 'oom' || this.#oomEventSinceExit) return [];
    this.#oomEventSinceExit = true;
    return this.#record([
      occurrence('oom-killed', now, 'A process in the container was OOM-killed (memory limit reached)', {
        whileAgentDown: false,
      }),
    ]);
  }

  /** The latest inspect (undefined: no such container). */
  observe(info: ContainerInfo | undefined, now: number): ContainerOccurrence[] {
    const whileAgentDown = this.#first;
    this.#first = false;
    if (info === undefined) {
      if (this.#removedReported || this.#base === undefined) return [];
      this.#removedReported = true;
      return this.#record([
        occurrence('removed', now, 'The container was removed', { whileAgentDown: false }),
      ]);
    }
    this.#removedReported = false;
    const base: LastSeenContainer =
      this.#base?.id === info.id
        ? this.#base
        : // A container we have not seen (first run, or recreated): what Docker remembers of it
          // counts, as long as it is not our own fresh creation.
          { id: info.id, restartCount: 0, finishedAt: undefined };
    const found: ContainerOccurrence[] = [];
    const newFinish = info.finishedAt !== undefined && info.finishedAt !== base.finishedAt;
    // A manual `docker start` resets RestartCount: count from there.
    const restarts = info.restartCount >= base.restartCount ? info.restartCount - base.restartCount : 0;
    const running = info.state === 'running';
    const exitCode = running ? this.#lastDieExitCode : (info.exitCode ?? this.#lastDieExitCode);
    const oomKilled = (info.oomKilled && !running) || this.#oomEventSinceExit;
    const away = whileAgentDown ? ' while the agent was down' : '';
    if (restarts > 0) {
      // Restarts from while the agent was down have no time: they may be days old, not a loop.
      if (!whileAgentDown) for (let i = 0; i < restarts; i++) this.#restartTimes.push(now);
      found.push(
        occurrence(
          'restarted',
          now,
          `Docker restarted the container ${restarts === 1 ? 'once' : `${restarts} times`}${away} (restart count ${info.restartCount}${exitCode === undefined ? '' : `, last exit code ${exitCode}`})`,
          { exitCode, count: restarts, whileAgentDown },
        ),
      );
    }
    const final = info.state === 'exited' || info.state === 'dead';
    if (newFinish && final) {
      const gaveUp = exitCode !== 0 && info.restartCount >= this.#maximumRetryCount;
      found.push(
        gaveUp
          ? occurrence(
              'gave-up',
              now,
              `The container exited with code ${exitCode ?? '?'}${away} and Docker gave up restarting it after ${info.restartCount} restarts`,
              { exitCode, whileAgentDown },
            )
          : occurrence(
              'exited',
              now,
              `The container exited with code ${exitCode ?? '?'}${away}; Docker does not restart it`,
              { exitCode, whileAgentDown },
            ),
      );
      this.history.gaveUp = gaveUp;
    } else if (newFinish && restarts === 0 && info.state !== 'restarting') {
      // Exited and started again by someone other than Docker's restart policy (a reboot, the boot).
      found.push(
        occurrence(
          'exited',
          now,
          `The container exited with code ${exitCode ?? '?'}${away} and was started again`,
          {
            exitCode,
            whileAgentDown,
          },
        ),
      );
    } else if (info.state === 'running') {
      this.history.gaveUp = false;
    }
    if (newFinish && oomKilled && !this.#oomEventSinceExit) {
      found.push(
        occurrence('oom-killed', now, `The container was OOM-killed${away} (memory limit reached)`, {
          exitCode,
          whileAgentDown,
        }),
      );
    }
    if (newFinish) {
      this.history.lastExit = { exitCode, oomKilled, at: info.finishedAt };
      this.#oomEventSinceExit = false;
    }
    found.push(...this.#crashLoop(info, now));
    this.#base = { id: info.id, restartCount: info.restartCount, finishedAt: info.finishedAt };
    return this.#record(found);
  }

  #crashLoop(info: ContainerInfo, now: number): ContainerOccurrence[] {
    this.#restartTimes = this.#restartTimes.filter((time) => now - time < CRASH_LOOP.windowMs);
    const inWindow = this.#restartTimes.length;
    if (inWindow >= CRASH_LOOP.restarts && this.history.crashLoop === undefined) {
      const since = this.#restartTimes[0] ?? now;
      this.history.crashLoop = {
        restarts: inWindow,
        windowSeconds: CRASH_LOOP.windowMs / 1000,
        since: new Date(since).toISOString(),
      };
      return [
        occurrence(
          'crash-loop',
          now,
          `The container is crash-looping: ${inWindow} restarts within ${CRASH_LOOP.windowMs / 60_000} minutes`,
          { exitCode: this.history.lastExit?.exitCode, count: inWindow, whileAgentDown: false },
        ),
      ];
    }
    if (this.history.crashLoop !== undefined) {
      if (inWindow === 0 && info.state === 'running') this.history.crashLoop = undefined;
      else this.history.crashLoop.restarts = Math.max(this.history.crashLoop.restarts, inWindow);
    }
    return [];
  }

  #record(found: ContainerOccurrence[]): ContainerOccurrence[] {
    const history = this.history;
    for (const item of found) {
      if (item.kind === 'restarted') history.restarts += item.count;
      if (item.kind === 'exited' || item.kind === 'gave-up') history.exits++;
      if (item.kind === 'oom-killed') history.oomKills++;
      history.recent.push(item);
    }
    history.recent.splice(0, Math.max(0, history.recent.length - MAX_RECENT_OCCURRENCES));
    return found;
  }
}

function occurrence(
  kind: OccurrenceKind,
  now: number,
  message: string,
  options: { exitCode?: number | undefined; count?: number; whileAgentDown: boolean },
): ContainerOccurrence {
  return {
    kind,
    at: new Date(now).toISOString(),
    message,
    exitCode: options.exitCode,
    count: options.count ?? 1,
    whileAgentDown: options.whileAgentDown,
  };
}
