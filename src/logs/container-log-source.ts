import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import {
  DockerTimestampParser,
  type ContainerLogEntry,
  type ContainerLogReader,
} from './container-log-reader.js';
import type { CheckpointValue, LineSink, LogSource, SourceCheckpoint } from './log-record.js';
import { LineAssembler } from './line-assembler.js';
import { LogFileFollower, type ContainerLogFiles } from './docker-log-file-follower.js';
import { access, constants } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface ContainerLogSourceOptions {
  /** Source name in records and routes; default "application". */
  readonly name?: string;
  /** Container name or id (the app container is "taupageapp"). */
  readonly container: string;
  readonly reader: ContainerLogReader;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Wait between follows when the container is gone, stopped or Docker failed. */
  readonly reconnectDelayMs?: number;
  /**
   * Read the log driver's files where it keeps them (`local`, `json-file`; default true); the
   * Docker API otherwise, or when they cannot be read.
   */
  readonly files?: boolean;
  /** How often the files are looked at for more once read to their end. */
  readonly filePollMs?: number;
}

/** How the container's log is read: its log driver's files, or Docker's logs API. */
export type ContainerLogVia = 'files' | 'docker-api';

/** The last read of the log at shutdown (see run) gets this long. */
const FINAL_READ_MS = 2_000;

/**
 * Where the container's log was taken up to: the Docker timestamp of the last entry shipped, and
 * how many entries carry exactly that timestamp (Docker's `since` is inclusive, so on resume we
 * skip that many instead of sending them twice).
 */
interface Position {
  readonly since: string;
  readonly count: number;
}

/** The same while following: Docker's timestamp as it came (made into `since` only to persist it). */
interface FollowPosition {
  readonly timestamp: string;
  readonly count: number;
}

/**
 * The app container's stdout and stderr as a log source. Follows the container by name (so a
 * restarted or replaced container is picked up), resumes from its checkpoint after a restart of
 * the agent, and joins Docker's 16 KiB partial entries back into lines (up to the event size).
 */
export class ContainerLogSource implements LogSource {
  readonly name: string;
  readonly maskJwt = true;
  readonly #options: ContainerLogSourceOptions;
  readonly #key: string;
  #via: ContainerLogVia | undefined;
  #unreadable = '';

  constructor(options: ContainerLogSourceOptions) {
    this.name = options.name ?? 'application';
    this.#options = options;
    this.#key = `container:${options.container}`;
  }

  /** How the log is read now (shown in /status); undefined before the container was found. */
  get via(): ContainerLogVia | undefined {
    return this.#via;
  }

  async run(sink: LineSink, signal: AbortSignal): Promise<void> {
    const { reader, container, log } = this.#options;
    const clock = this.#options.clock ?? systemClock;
    let position = parsePosition(sink.checkpoint(this.#key));
    let lastProblem = '';
    while (!signal.aborted) {
      // Where the follow got to, also when it breaks with an error (dockerd restarted, the
      // socket reset): the next follow resumes from the last line written, not from where
      // the broken one started (which shipped every line since then again).
      const progress = { resume: (): Position | undefined => position };
      try {
        position = await this.#follow(reader, container, position, sink, signal, true, progress);
        lastProblem = '';
      } catch (error) {
        position = progress.resume();
        if (isAborted(signal)) return;
        const problem = error instanceof Error ? error.message : String(error);
        // Log a failure once, not every reconnect: Docker may be down for a while.
        if (problem !== lastProblem)
          log.warn({ err: error, container }, 'Failed to follow the container log');
        lastProblem = problem;
      }
      try {
        await clock.sleep(this.#options.reconnectDelayMs ?? 1_000, signal);
      } catch {
        break;
      }
    }
    // Stopped between two follows (the container was not there yet, had just stopped, or Docker
    // failed): what it wrote meanwhile is read once more, without following, so a shutdown or a
    // drain right after the app stopped still ships its last lines.
    try {
      await this.#follow(reader, container, position, sink, AbortSignal.timeout(FINAL_READ_MS), false);
    } catch (error) {
      log.warn({ err: error, container }, 'Could not read the container log a last time');
    }
  }

  async #follow(
    reader: ContainerLogReader,
    container: string,
    start: Position | undefined,
    sink: LineSink,
    signal: AbortSignal,
    follow = true,
    progress: { resume: () => Position | undefined } = { resume: () => start },
  ): Promise<Position | undefined> {
    const files = await this.#files(reader, container, signal);
    // Not created yet, or created but not started (dockerd makes the log directory at the
    // start): look again after the reconnect delay (the API would be followed until the
    // container stops).
    if (files === 'not yet') return start;
    if (files) {
      this.#via = 'files';
      const current = async (): Promise<boolean> => {
        try {
          return (await reader.logFiles?.(container, signal))?.id === files.id;
        } catch {
          return true; // Docker not answering: the files are still there
        }
      };
      const follower = new LogFileFollower({
        files,
        start,
        sink,
        key: this.#key,
        signal,
        follow,
        clock: this.#options.clock ?? systemClock,
        current,
        ...(this.#options.filePollMs === undefined ? {} : { pollMs: this.#options.filePollMs }),
      });
      progress.resume = () => follower.position;
      return follower.run();
    }
    this.#via = 'docker-api';
    return this.#followApi(reader, container, start, sink, signal, follow, progress);
  }

  /**
   * The container's log files when they are there and readable; undefined: use the Docker API;
   * 'not yet': the container or its log directory does not exist yet.
   */
  async #files(
    reader: ContainerLogReader,
    container: string,
    signal: AbortSignal,
  ): Promise<ContainerLogFiles | 'not yet' | undefined> {
    if (this.#options.files === false || !reader.logFiles) return undefined;
    const files = await reader.logFiles(container, signal);
    // Not created yet: look again after the reconnect delay. Following the API instead raced
    // with the create: a container made between the inspect and the follow was read through
    // `docker logs -f` for its whole life (seen in bench/logs: dockerd at 1.3 CPU s, not 0.2).
    if (files === undefined) return 'not yet';
    if (files === null) return undefined;
    try {
      await access(dirname(files.path), constants.R_OK | constants.X_OK);
      this.#unreadable = '';
      return files;
    } catch (error) {
      // The container's directory is there but not its log directory yet (local: made at start).
      if (
        (error as NodeJS.ErrnoException).code === 'ENOENT' &&
        (await access(dirname(dirname(files.path))).then(
          () => true,
          () => false,
        ))
      )
        return 'not yet';
      const problem = error instanceof Error ? error.message : String(error);
      if (problem !== this.#unreadable)
        this.#options.log.warn(
          { err: error, container, path: files.path },
          'Cannot read the container log files, reading the Docker logs API instead',
        );
      this.#unreadable = problem;
      return undefined;
    }
  }

  async #followApi(
    reader: ContainerLogReader,
    container: string,
    start: Position | undefined,
    sink: LineSink,
    signal: AbortSignal,
    follow: boolean,
    progress: { resume: () => Position | undefined },
  ): Promise<Position | undefined> {
    let position: FollowPosition | undefined;
    // What a reconnect resumes from: the last whole line (an unfinished partial is re-read).
    let complete: FollowPosition | undefined;
    let skip = start?.count ?? 0;
    const partial = { stdout: new LineAssembler(), stderr: new LineAssembler() };
    const timestamps = new DockerTimestampParser();
    // Read only when the follow breaks: no cost per line.
    progress.resume = () =>
      complete === undefined ? start : { since: timestamps.since(complete.timestamp), count: complete.count };
    const checkpoint = (at: FollowPosition): SourceCheckpoint => ({
      key: this.#key,
      value: { since: timestamps.since(at.timestamp), count: at.count },
    });
    for await (const entries of reader.follow(container, start?.since, signal, { follow })) {
      // The checkpoint goes with the batch's last whole line (one per batch, not per line).
      let checkpointed = true;
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i] as ContainerLogEntry;
        const { timestamp } = entry;
        if (skip > 0) {
          if (start?.since === timestamps.since(timestamp)) {
            skip--;
            continue;
          }
          skip = 0;
        }
        position =
          position?.timestamp === timestamp
            ? { timestamp, count: position.count + 1 }
            : {
                timestamp,
                count:
                  position === undefined && start?.since === timestamps.since(timestamp)
                    ? start.count + 1
                    : 1,
              };
        const millis = timestamps.millis(timestamp);
        const assembler = partial[entry.stream];
        if (entry.partial) {
          // Pieces of a line longer than an event go out as soon as they are complete.
          for (const piece of assembler.push(entry.line)) {
            if (!sink.writeLine(piece, millis)) await sink.drained();
          }
          continue;
        }
        const line = assembler.finish(entry.line);
        complete = position;
        // A checkpoint only at whole lines: a restart re-reads an unfinished partial line.
        const last = i === entries.length - 1;
        checkpointed = last;
        if (!sink.writeLine(line, millis, last ? checkpoint(complete) : undefined)) await sink.drained();
      }
      if (!checkpointed && complete !== undefined) sink.setCheckpoint(checkpoint(complete));
    }
    if (complete === undefined) return start;
    return { since: timestamps.since(complete.timestamp), count: complete.count };
  }
}

function parsePosition(value: CheckpointValue | undefined): Position | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { since, count } = value;
  if (typeof since !== 'string' || typeof count !== 'number' || !/^\d+\.\d{9}$/.test(since)) return undefined;
  return { since, count };
}

/** A function, so that TypeScript does not narrow `aborted` across awaits. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}
