/** One CloudWatch Logs event as PutLogEvents takes it. */
export interface CloudWatchEvent {
  readonly timestamp: number;
  readonly message: string;
}

/**
 * PutLogEvents limits (API reference): at most 1,048,576 bytes counted as the UTF-8 messages plus
 * 26 bytes per event, at most 10,000 events, in chronological order, spanning at most 24 hours.
 * We stay one millisecond inside the span so that "at most" versus "less than" never matters.
 */
export const PUT_LOG_EVENTS_LIMITS = {
  maxBatchBytes: 1_048_576,
  eventOverheadBytes: 26,
  maxEvents: 10_000,
  maxSpanMs: 24 * 60 * 60 * 1000 - 1,
} as const;

export type PutLogEventsLimits = { readonly [K in keyof typeof PUT_LOG_EVENTS_LIMITS]: number };

/**
 * Cuts one stream's events into valid PutLogEvents batches: sorted by timestamp (stable, so lines
 * with the same millisecond keep their order, which keeps a split long line in order), then cut
 * wherever the next event would break the byte, count or span limit. Every message must be
 * non-empty and fit in one event (see MAX_MESSAGE_BYTES).
 */
export function cloudWatchBatches(
  events: readonly CloudWatchEvent[],
  limits: PutLogEventsLimits = PUT_LOG_EVENTS_LIMITS,
): CloudWatchEvent[][] {
  // Usually already in order (one source, or sources in step): then no copy and no sort.
  let inOrder = true;
  for (let i = 1; i < events.length && inOrder; i++)
    inOrder = (events[i - 1]?.timestamp ?? 0) <= (events[i]?.timestamp ?? 0);
  const sorted = inOrder ? events : [...events].sort((a, b) => a.timestamp - b.timestamp);
  const batches: CloudWatchEvent[][] = [];
  let batch: CloudWatchEvent[] = [];
  let bytes = 0;
  let first = 0;
  for (const event of sorted) {
    const size = Buffer.byteLength(event.message, 'utf8') + limits.eventOverheadBytes;
    if (size > limits.maxBatchBytes)
      throw new RangeError(`log event of ${size} bytes exceeds the batch limit`);
    if (
      batch.length > 0 &&
      (batch.length >= limits.maxEvents ||
        bytes + size > limits.maxBatchBytes ||
        event.timestamp - first > limits.maxSpanMs)
    ) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    if (batch.length === 0) first = event.timestamp;
    batch.push(event);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
