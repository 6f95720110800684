import type { Clock } from '../core/clock.js';
import { toTaupageError } from '../core/errors.js';

export type StepOutcome = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface BootStepRecord {
  readonly name: string;
  readonly description: string;
  outcome: StepOutcome;
  startedAt: string | undefined;
  endedAt: string | undefined;
  durationMs: number | undefined;
  /** What the step found or did, one line ("image present, pull skipped"). */
  detail: string | undefined;
  error: { code: string; message: string } | undefined;
}

/**
 * Records each boot step's timing and outcome, for the status endpoint, the logs and the
 * closing "Boot completed in 1.2 s: imds 40 ms, …" line (cloud-init analyze style).
 */
export class BootTimeline {
  readonly steps: BootStepRecord[];
  #startedAt: number | undefined;
  #endedAt: number | undefined;

  constructor(
    private readonly clock: Clock,
    steps: readonly { name: string; description: string }[],
  ) {
    this.steps = steps.map(({ name, description }) => ({
      name,
      description,
      outcome: 'pending',
      startedAt: undefined,
      endedAt: undefined,
      durationMs: undefined,
      detail: undefined,
      error: undefined,
    }));
  }

  get startedAt(): number | undefined {
    return this.#startedAt;
  }

  get totalMs(): number | undefined {
    return this.#startedAt === undefined || this.#endedAt === undefined
      ? undefined
      : this.#endedAt - this.#startedAt;
  }

  async run<T>(name: string, step: (record: BootStepRecord) => Promise<T>): Promise<T> {
    const record = this.steps.find((candidate) => candidate.name === name);
    if (record === undefined) throw new Error(`Unknown boot step ${name}`);
    const started = this.clock.now();
    this.#startedAt ??= started;
    record.outcome = 'running';
    record.startedAt = new Date(started).toISOString();
    try {
      const result = await step(record);
      record.outcome = 'succeeded';
      return result;
    } catch (error) {
      const failure = toTaupageError(error);
      record.outcome = 'failed';
      record.error = { code: failure.code, message: failure.message };
      throw error;
    } finally {
      const ended = this.clock.now();
      this.#endedAt = ended;
      record.endedAt = new Date(ended).toISOString();
      record.durationMs = ended - started;
    }
  }

  skip(name: string, detail: string): void {
    const record = this.steps.find((candidate) => candidate.name === name);
    if (record === undefined) throw new Error(`Unknown boot step ${name}`);
    record.outcome = 'skipped';
    record.detail = detail;
  }

  /** "imds 40 ms, config 3 ms, secrets 120 ms, pull 2.1 s, …" */
  summary(): string {
    return this.steps
      .filter((step) => step.durationMs !== undefined)
      .map((step) => `${step.name} ${formatDuration(step.durationMs ?? 0)}`)
      .join(', ');
  }
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
