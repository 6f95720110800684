// What GET /status `logShipping` and the `taupage_log_*` metrics show of the log pipeline;
// AgentState holds readers of it (logPipelineStarted, agentLogBuffered).

/** One log destination's shipping state (counts since the agent started). */
export interface LogShippingState {
  readonly destination: string;
  /** 0 when caught up; else seconds since its last acknowledged delivery or since it fell behind. */
  readonly lagSeconds: number;
  /** Spool bytes this destination has not yet acknowledged. */
  readonly spoolBytes: number;
  /** dropped + rejected (kept for clients of the first shape). */
  readonly droppedLines: number;
  /** Records the destination acknowledged. */
  readonly delivered: number;
  /** Records the destination refused for good (too old or new for CloudWatch, empty). */
  readonly rejected: number;
  /** Records dropped unsent because the spool's disk bound was hit. */
  readonly dropped: number;
  /** Records left out on purpose by the destination (Scalyr's sampling rules), not sent. */
  readonly sampledOut: number;
  /** Failed delivery attempts (each retried). */
  readonly failures: number;
  /** true while its head delivery keeps failing. */
  readonly failing: boolean;
  readonly lastError: string | undefined;
}

/** One log source of the pipeline. */
export interface LogSourceState {
  readonly name: string;
  readonly running: boolean;
  /** Lines read since the agent started. */
  readonly lines: number;
  readonly lastError: string | undefined;
  /** The app container's output: read from its log driver's "files" or the "docker-api". */
  readonly via?: string;
}

/** The log pipeline's numbers, as compose-logs maps them. */
export interface LogPipelineState {
  readonly destinations: readonly LogShippingState[];
  readonly sources: readonly LogSourceState[];
  /** Spool segment bytes on disk, and bytes written but not yet on disk. */
  readonly spool: { readonly diskBytes: number; readonly pendingBytes: number };
}

/** The agent's own log's bounded buffer before the pipeline (EC2 mode). */
export interface AgentLogBufferState {
  readonly state: 'buffering' | 'shipping' | 'off';
  readonly queuedLines: number;
  readonly queuedBytes: number;
  /** Lines lost because the buffer was full, since the agent started. */
  readonly droppedLines: number;
}

/** GET /status `logShipping` and the `taupage_log_*` metrics. */
export interface LogShippingReport extends Omit<LogPipelineState, 'spool'> {
  /** null: log shipping has not started (or ships nothing). */
  readonly spool: LogPipelineState['spool'] | null;
  /** null: the agent's own log is not teed (local mode). */
  readonly agentLog: AgentLogBufferState | null;
}
