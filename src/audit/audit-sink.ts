/** A run of consecutive, complete lines of the trail: what one shipping call carries. */
export interface AuditBatch {
  readonly instanceId: string;
  readonly bootId: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** UTC time of the first event (S3 keys are partitioned by its date). */
  readonly firstTs: string;
  /** The JSON lines exactly as in the local file, each ending in "\n". */
  readonly body: string;
}

/**
 * Port: somewhere off the host the trail is copied to. `put` of the same batch twice must be
 * harmless (S3 overwrites the same key), because a batch is retried until it is acknowledged.
 */
export interface AuditSink {
  /** "s3", "log-sink": in logs and in the shipper's state file. */
  readonly name: string;
  put(batch: AuditBatch, signal: AbortSignal): Promise<void>;
}
