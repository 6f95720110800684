import { systemClock, type Clock } from '../core/clock.js';
import { firstLine } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import { DestinationWorker, type DestinationStatus } from './destination-worker.js';
import type { AnyLogDestination } from './log-destination.js';
import { MAX_MESSAGE_BYTES, prepareMessages } from './log-message.js';
import type { LineSink, LogSource, SourceCheckpoint } from './log-record.js';
import { LogSpool, type LogSpoolOptions } from './log-spool.js';
import { isPlainMessage } from './spool-records.js';

export interface LogPipelineOptions {
  /** Directory for the spool segments and the state file (checkpoints, cursors). */
  readonly stateDir: string;
  readonly sources: readonly LogSource[];
  readonly destinations: readonly AnyLogDestination[];
  readonly redactor: Redactor;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly spool?: Pick<
    LogSpoolOptions,
    'maxDiskBytes' | 'segmentBytes' | 'memoryBytes' | 'flushIntervalMs' | 'holdMs'
  >;
  /** Spool bytes read per delivery; the destination cuts them into requests. */
  readonly maxDeliveryBytes?: number;
  readonly lingerMs?: number;
}

export interface SourceStatus {
  readonly name: string;
  readonly running: boolean;
  readonly lines: number;
  readonly lastError: string | undefined;
  /** How the source reads, when it has a choice (the container: "files" or "docker-api"). */
  readonly via?: string;
}

export interface LogPipelineStatus {
  readonly sources: readonly SourceStatus[];
  readonly destinations: readonly DestinationStatus[];
  readonly spool: { readonly diskBytes: number; readonly pendingBytes: number };
  /** Records lost, over all destinations: dropped (spool full) plus rejected by a destination. */
  readonly lostRecords: number;
}

/** At most this long (or half the stop deadline) for the sources to finish on stop. */
const SOURCE_FINISH_MS = 2_500;

// 1 MiB per delivery (CloudWatch Logs reads one full request, see deliveryLimits): with the
// next delivery read while one is in flight, each destination holds about 2 MiB of spool.
const DEFAULT_DELIVERY_BYTES = 1024 * 1024;
// CloudWatch agent and Fluent Bit flush every 5 s; one second keeps logs near-live at one
// request per second per destination when the app is quiet.
const DEFAULT_LINGER_MS = 1_000;

/**
 * Sources → bounded disk spool → destinations, with at-least-once delivery. Built from plain
 * options; `start` opens the spool and runs everything, `stop` flushes within a deadline.
 */
export class LogPipeline {
  readonly #options: LogPipelineOptions;
  readonly #spool: LogSpool;
  readonly #workers: DestinationWorker[];
  readonly #sourceState = new Map<
    string,
    { running: boolean; lines: number; lastError: string | undefined }
  >();
  readonly #abort = new AbortController();
  readonly #sourcesAbort = new AbortController();
  readonly #tasks: Promise<void>[] = [];
  readonly #sourceTasks: Promise<void>[] = [];
  readonly #clock: Clock;
  /** Some destination was caught up: the next line written puts it behind (lagSeconds). */
  #someCaughtUp = true;
  #stopped = false;

  private constructor(options: LogPipelineOptions, spool: LogSpool) {
    this.#options = options;
    this.#spool = spool;
    const clock = options.clock ?? systemClock;
    this.#clock = clock;
    this.#workers = options.destinations.map(
      (destination) =>
        new DestinationWorker({
          destination,
          spool,
          clock,
          log: options.log.child({ destination: destination.name }),
          maxDeliveryBytes: options.maxDeliveryBytes ?? DEFAULT_DELIVERY_BYTES,
          lingerMs: options.lingerMs ?? DEFAULT_LINGER_MS,
          onCaughtUp: () => {
            this.#someCaughtUp = true;
          },
        }),
    );
  }

  static async start(options: LogPipelineOptions): Promise<LogPipeline> {
    const spool = await LogSpool.open({
      ...options.spool,
      dir: options.stateDir,
      consumers: options.destinations.map((d) => d.name),
      log: options.log,
    });
    const pipeline = new LogPipeline(options, spool);
    pipeline.#run();
    return pipeline;
  }

  status(): LogPipelineStatus {
    const destinations = this.#workers.map((w) => w.status());
    const stats = this.#spool.stats();
    return {
      sources: this.#options.sources.flatMap((source) => {
        const state = this.#sourceState.get(source.name);
        if (!state) return [];
        return [{ name: source.name, ...state, ...(source.via === undefined ? {} : { via: source.via }) }];
      }),
      destinations,
      spool: { diskBytes: stats.diskBytes, pendingBytes: stats.pendingBytes },
      lostRecords: destinations.reduce((sum, d) => sum + d.dropped + d.rejected, 0),
    };
  }

  /**
   * Stops the sources, writes what they produced, then lets the destinations deliver until
   * they caught up or `deadlineMs` passed; what is left stays in the spool for the next start.
   */
  async stop(deadlineMs: number): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const { log } = this.#options;
    const deadline = Date.now() + deadlineMs;
    this.#sourcesAbort.abort();
    // The sources finish what they were writing (a container source reads the log once more,
    // see ContainerLogSource.run), within part of the deadline.
    await Promise.race([
      Promise.allSettled(this.#sourceTasks),
      new Promise((resolve) => setTimeout(resolve, Math.min(SOURCE_FINISH_MS, deadlineMs / 2)).unref()),
    ]);
    await this.#spool.flush().catch((error: unknown) => {
      log.error({ err: error }, 'Failed to write the log spool on shutdown');
    });
    for (const worker of this.#workers) worker.drain();
    while (Date.now() < deadline && !this.#workers.every((w) => this.#spool.caughtUp(w.name))) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const behind = this.#workers.filter((w) => !this.#spool.caughtUp(w.name)).map((w) => w.name);
    if (behind.length > 0)
      log.warn({ destinations: behind }, 'Stopped log shipping with records left in the spool');
    this.#abort.abort();
    await Promise.allSettled(this.#tasks);
    await Promise.allSettled(this.#options.destinations.map((d) => d.close()));
    await this.#spool.close();
    log.info(this.status(), 'Stopped log shipping');
  }

  #run(): void {
    const { log } = this.#options;
    for (const worker of this.#workers) {
      this.#tasks.push(
        worker.run(this.#abort.signal).catch((error: unknown) => {
          log.error(
            { err: error, destination: worker.name },
            'Log destination stopped on an unexpected error',
          );
        }),
      );
    }
    for (const source of this.#options.sources) {
      const state = { running: true, lines: 0, lastError: undefined as string | undefined };
      this.#sourceState.set(source.name, state);
      const task = source
        .run(this.#sinkFor(source, state), this.#sourcesAbort.signal)
        .catch((error: unknown) => {
          state.lastError = error instanceof Error ? firstLine(error.message) : String(error);
          log.error({ err: error, source: source.name }, 'Log source stopped on an unexpected error');
        })
        .finally(() => {
          state.running = false;
        });
      this.#tasks.push(task);
      this.#sourceTasks.push(task);
    }
  }

  #sinkFor(source: LogSource, state: { lines: number }): LineSink {
    const spool = this.#spool;
    const options = { redactor: this.#options.redactor, maskJwt: source.maskJwt };
    const { redactor } = this.#options;
    const { maskJwt } = source;
    // One flag test per line; the clock is read only when a caught-up destination falls behind.
    const noteWrite = (): void => {
      if (!this.#someCaughtUp) return;
      this.#someCaughtUp = false;
      const now = this.#clock.now();
      for (const worker of this.#workers) worker.behindFrom(now);
    };
    const sink: LineSink = {
      writeBytes(buffer: Buffer, start: number, end: number, timestamp: number): boolean {
        if (
          end - start <= MAX_MESSAGE_BYTES &&
          isPlainMessage(buffer, maskJwt, start, end) &&
          (redactor.size === 0 || !redactor.foundIn(buffer.subarray(start, end)))
        ) {
          state.lines++;
          noteWrite();
          return spool.writePlain(timestamp, source.name, buffer, undefined, start, end);
        }
        return sink.writeLine(buffer.subarray(start, end), timestamp);
      },
      writeLine(
        line: Buffer | string,
        timestamp: number,
        checkpoint?: SourceCheckpoint,
        file?: string,
      ): boolean {
        state.lines++;
        noteWrite();
        // Most lines need nothing of prepareMessages: their bytes go into the spool as they are.
        if (
          file === undefined &&
          typeof line !== 'string' &&
          line.length <= MAX_MESSAGE_BYTES &&
          isPlainMessage(line, maskJwt) &&
          !redactor.foundIn(line)
        )
          return spool.writePlain(timestamp, source.name, line, checkpoint);
        const pieces = prepareMessages(line, options);
        let room = true;
        pieces.forEach((message, index) => {
          const last = index === pieces.length - 1;
          room = spool.write(
            file === undefined
              ? { source: source.name, timestamp, message }
              : { source: source.name, timestamp, message, file },
            last ? checkpoint : undefined,
          );
        });
        return room;
      },
      drained: () => spool.drained(),
      setCheckpoint: (checkpoint) => {
        spool.setCheckpoint(checkpoint);
      },
      checkpoint: (key) => {
        // A source that resumes from a checkpoint reads its records again after a crash.
        spool.replayable(source.name);
        return spool.checkpoint(key);
      },
    };
    return sink;
  }
}
