/**
 * One log event on its way from a source to the destinations, in our own types. `source` names
 * the configured source (it picks the destination routes: log group, S3 prefix…); the message is
 * already redacted, valid UTF-8 text without its line terminator.
 */
export interface LogRecord {
  readonly source: string;
  /** Milliseconds since the epoch: Docker's timestamp for container output, read time for files. */
  readonly timestamp: number;
  readonly message: string;
  /**
   * The file the line came from, when its source tails several (a pattern such as
   * /var/log-custom/*.log); Scalyr names the log by it (`logfile`). Absent for other sources.
   */
  readonly file?: string;
}

/**
 * Where a source is in its input, as plain JSON (container: Docker timestamp and how many lines
 * at that instant were taken; file: device, inode and byte offset). `key` is the checkpoint's
 * name in the state file: one per container or per tailed file path.
 */
export interface SourceCheckpoint {
  readonly key: string;
  readonly value: CheckpointValue;
}

export type CheckpointValue =
  string | number | boolean | null | CheckpointValue[] | { [key: string]: CheckpointValue };

/**
 * What a source writes into: `write` returns false when the in-memory buffer is full and the
 * caller must `await drained()` before writing more (backpressure, like a Node stream).
 * The checkpoint travels with the record and is persisted once the record is durable.
 */
export interface LogSink {
  write(record: LogRecord, checkpoint: SourceCheckpoint | undefined): boolean;
  drained(): Promise<void>;
  /** The last checkpoint persisted for `key` (what a source resumes from after a restart). */
  checkpoint(key: string): CheckpointValue | undefined;
}

/** What a source writes raw lines into (the pipeline decodes, redacts and splits them). */
export interface LineSink {
  /** false: the buffer is full, `await drained()` before writing more (backpressure). */
  writeLine(line: Buffer | string, timestamp: number, checkpoint?: SourceCheckpoint, file?: string): boolean;
  /**
   * `writeLine(buffer.subarray(start, end), timestamp)` without making the view (a source
   * reading in place, at tens of thousands of lines a second); optional.
   */
  writeBytes?(buffer: Buffer, start: number, end: number, timestamp: number): boolean;
  drained(): Promise<void>;
  /** Moves a checkpoint without a record (input that was skipped, e.g. already delivered). */
  setCheckpoint(checkpoint: SourceCheckpoint): void;
  /** The last persisted checkpoint for `key`, to resume from after a restart. */
  checkpoint(key: string): CheckpointValue | undefined;
}

/** Port: something that produces log lines (the app container's output, a host file…). */
export interface LogSource {
  /** Names the source in records and routes (e.g. "application", "/var/log/syslog"). */
  readonly name: string;
  /** Mask JWT-looking tokens in its lines (application and custom logs). */
  readonly maskJwt: boolean;
  /** How it reads now, when it has a choice (the container: "files" or "docker-api"). */
  readonly via?: string | undefined;
  /** Reads until the signal aborts; resolves then. Throws only on a bug. */
  run(sink: LineSink, signal: AbortSignal): Promise<void>;
}
