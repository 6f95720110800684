import type { LineSink, LogSource } from './log-record.js';

/**
 * `cloudwatch_logs: {/var/log/taupage.log: group}` ships the agent's own log. No such file is
 * written: the logger tees its lines (already scrubbed) into this source in-process.
 */
export const AGENT_LOG_PATH = '/var/log/taupage.log';
/** The source name of the agent's own log. */
export const AGENT_SOURCE = 'taupage';

// The boot (IMDS, config, KMS, host, pull, container, health) logs a few dozen lines before the
// pipeline starts, a slow pull a line every few seconds: 2,000 lines hold a long boot. 1 MiB caps
// the memory when lines are long (errors with causes and stacks).
export const AGENT_LOG_BUFFER = { maxLines: 2_000, maxBytes: 1024 * 1024 } as const;

export interface AgentLogSourceOptions {
  readonly maxLines?: number;
  readonly maxBytes?: number;
  /** The record timestamp of a line: when it was logged (injectable for tests). */
  readonly now?: () => number;
}

export interface AgentLogSourceStatus {
  /** buffering: nobody reads yet; shipping: the pipeline reads; off: not shipped, not kept. */
  readonly state: 'buffering' | 'shipping' | 'off';
  readonly queuedLines: number;
  readonly queuedBytes: number;
  /** Lines lost because the buffer was full (oldest first), since the agent started. */
  readonly droppedLines: number;
}

interface QueuedLine {
  readonly text: string;
  readonly bytes: number;
  readonly timestamp: number;
}

/**
 * The agent's own log as a log source, and the pino destination that feeds it (`write`).
 * Lines logged before the pipeline starts wait in a bounded ring (the oldest go first when it
 * is full); when the pipeline is slower than the logger (spool backpressure) the same ring
 * bounds the memory. Lost lines are counted and reported in the shipped log itself, by a warning
 * line where the gap is. Once the pipeline is known not to want this source, `stopBuffering`
 * drops the ring and turns `write` into a no-op.
 *
 * `write` only queues: the lines reach the sink from `run`'s loop, never inside a logging call,
 * so whatever the pipeline logs while it writes cannot recurse into it.
 */
export class AgentLogSource implements LogSource {
  readonly name = AGENT_SOURCE;
  // taupage's log carries no app tokens; registered secrets are scrubbed by the logger and again
  // by the pipeline.
  readonly maskJwt = false;
  readonly #maxLines: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  #queue: QueuedLine[] = [];
  #head = 0;
  #queuedBytes = 0;
  #droppedTotal = 0;
  /** Dropped since the last warning line (reported before the next line shipped). */
  #droppedUnreported = 0;
  #state: AgentLogSourceStatus['state'] = 'buffering';
  #wake: (() => void) | undefined;

  constructor(options: AgentLogSourceOptions = {}) {
    this.#maxLines = Math.max(1, options.maxLines ?? AGENT_LOG_BUFFER.maxLines);
    this.#maxBytes = options.maxBytes ?? AGENT_LOG_BUFFER.maxBytes;
    this.#now = options.now ?? Date.now;
  }

  /** pino's destination interface: one serialised line (with its `\n`) per call. Never throws. */
  write(line: string): void {
    if (this.#state === 'off') return;
    const text = line.endsWith('\n') ? line.slice(0, -1) : line;
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > this.#maxBytes) {
      this.#drop(1);
      return;
    }
    while (this.#length() >= this.#maxLines || this.#queuedBytes + bytes > this.#maxBytes) {
      this.#dropOldest();
    }
    this.#queue.push({ text, bytes, timestamp: this.#now() });
    this.#queuedBytes += bytes;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The pipeline does not ship this source: forget the buffered lines and keep no more. */
  stopBuffering(): void {
    this.#state = 'off';
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
    this.#droppedUnreported = 0;
  }

  status(): AgentLogSourceStatus {
    return {
      state: this.#state,
      queuedLines: this.#length(),
      queuedBytes: this.#queuedBytes,
      droppedLines: this.#droppedTotal,
    };
  }

  async run(sink: LineSink, signal: AbortSignal): Promise<void> {
    if (this.#state === 'off' || signal.aborted) return;
    this.#state = 'shipping';
    // On shutdown the pipeline aborts the sources and then flushes the spool: what is queued
    // goes in synchronously here, so the last lines before the stop are shipped too.
    const onAbort = (): void => {
      try {
        this.#writeQueued(sink, signal);
      } catch {
        // the spool is closing: these lines stay in the journal only
      }
      const wake = this.#wake;
      this.#wake = undefined;
      wake?.();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // A function, not `signal.aborted` inline: it changes across the awaits below.
    const stopped = (): boolean => signal.aborted;
    try {
      while (!stopped()) {
        if (!this.#writeQueued(sink, signal)) {
          await waitUnlessAborted(sink.drained(), signal);
          continue;
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      // Nobody reads any more: what is logged from here on stays in the bounded ring.
      if (this.status().state === 'shipping') this.#state = 'buffering';
    }
  }

  /**
   * Moves queued lines into the sink until it is full (false) or the queue is empty (true).
   * After an abort the sink's backpressure is ignored: the spool takes the rest before its flush.
   */
  #writeQueued(sink: LineSink, signal: AbortSignal): boolean {
    while (this.#length() > 0 || this.#droppedUnreported > 0) {
      let room: boolean;
      if (this.#droppedUnreported > 0) {
        room = sink.writeLine(this.#dropWarning(), this.#peekTimestamp());
        this.#droppedUnreported = 0;
      } else {
        const line = this.#shift();
        room = sink.writeLine(line.text, line.timestamp);
      }
      if (!room && !signal.aborted) return false;
    }
    return true;
  }

  /** A line like the logger's own, where the gap is (the timestamp of the line after it). */
  #dropWarning(): string {
    const dropped = this.#droppedUnreported;
    return JSON.stringify({
      level: 'warn',
      time: new Date(this.#peekTimestamp()).toISOString(),
      service: 'taupage',
      component: 'logs',
      source: AGENT_SOURCE,
      droppedLines: dropped,
      droppedTotal: this.#droppedTotal,
      msg: `Dropped ${String(dropped)} lines of taupage's own log here: its in-memory buffer (${String(this.#maxLines)} lines, ${String(this.#maxBytes)} bytes) was full (the journal has them)`,
    });
  }

  #peekTimestamp(): number {
    return this.#queue[this.#head]?.timestamp ?? this.#now();
  }

  #length(): number {
    return this.#queue.length - this.#head;
  }

  #shift(): QueuedLine {
    const line = this.#queue[this.#head];
    if (line === undefined) throw new Error('agent log queue is empty');
    this.#head++;
    this.#queuedBytes -= line.bytes;
    // Compact once the consumed prefix is most of the array: shifting stays O(1) amortised.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return line;
  }

  #dropOldest(): void {
    this.#shift();
    this.#drop(1);
  }

  #drop(count: number): void {
    this.#droppedTotal += count;
    this.#droppedUnreported += count;
  }
}

/** `promise`, or the abort (the pipeline flushes the spool after aborting its sources). */
async function waitUnlessAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([promise, aborted]);
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}
