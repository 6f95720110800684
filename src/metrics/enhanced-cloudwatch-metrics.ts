import type { Clock } from '../core/clock.js';
import { isTaupageError, toTaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import type { AgentState } from '../status/agent-state.js';
import type { ErrorReporter } from '../status/error-reporter.js';
import type { AgentMetrics } from './agent-metrics.js';
import {
  ENHANCED_METRICS_NAMESPACE,
  enhancedMetricDatums,
  type EnhancedMetricsIdentity,
  type HostSample,
} from './enhanced-metrics.js';
import { batchDatums } from './metric-batches.js';
import type { MetricPublisher } from './metric-datum.js';
import { everySeconds, scheduleSpreadMs, type Scheduler } from './scheduler.js';

/** Every minute, like CloudWatch's standard resolution (the original ran every 5 min). */
export const DEFAULT_ENHANCED_METRICS_INTERVAL_SECONDS = 60;

/**
 * PutMetricData retry: throttling and 5xx are retried 3 times from 500 ms, doubling to 5 s, all
 * within a third of the interval, so a round always ends before the next one starts (the SDK's
 * own retries are off, so the policies never multiply).
 */
export function putMetricDataRetryPolicy(intervalSeconds: number): RetryPolicy {
  return {
    name: 'cloudwatch',
    maxAttempts: 4,
    initialDelayMs: 500,
    maxDelayMs: 5_000,
    multiplier: 2,
    budgetMs: (intervalSeconds * 1000) / 3,
    jitter: true,
  };
}

export interface EnhancedCloudWatchMetricsOptions {
  /** `enhanced_cloudwatch_metrics` from the TaupageConfig. */
  readonly enabled: boolean;
  readonly intervalSeconds: number;
  readonly identity: EnhancedMetricsIdentity;
  readonly sample: (signal: AbortSignal) => Promise<HostSample>;
  /** Loads the SDK on first use: an agent without enhanced metrics never pays for it. */
  readonly publisher: () => Promise<MetricPublisher>;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  readonly state: AgentState;
  /** A failed round goes to GET /status lastErrors and taupage_errors_total (not the audit trail). */
  readonly errors: ErrorReporter;
  readonly metrics: AgentMetrics | undefined;
  readonly namespace?: string;
  /** Each round this long after its cron tick; default a random scheduleSpreadMs (docs/fleet.md). */
  readonly offsetMs?: number;
}

/**
 * `enhanced_cloudwatch_metrics: true`: memory, swap and disk space to CloudWatch (System/Linux)
 * on a cron schedule. Runs beside everything else and never blocks it: a round has a deadline
 * of one interval, failures are logged, recorded in GET /status and retried next round.
 */
export class EnhancedCloudWatchMetrics {
  readonly #options: EnhancedCloudWatchMetricsOptions;
  readonly #namespace: string;
  #job: { stop(): void } | undefined;
  readonly #stopping = new AbortController();

  constructor(options: EnhancedCloudWatchMetricsOptions) {
    this.#options = options;
    this.#namespace = options.namespace ?? ENHANCED_METRICS_NAMESPACE;
  }

  /** Starts the schedule; false (and nothing scheduled) when the config does not ask for it. */
  start(): boolean {
    const { enabled, intervalSeconds, scheduler, state, log } = this.#options;
    if (!enabled || this.#job !== undefined) return false;
    state.cloudwatchStarted(this.#namespace, intervalSeconds);
    const offsetMs = this.#options.offsetMs ?? scheduleSpreadMs(intervalSeconds);
    this.#job = scheduler.schedule(everySeconds(intervalSeconds), () => this.publishOnce(), { offsetMs });
    log.info(
      { namespace: this.#namespace, intervalSeconds, offsetMs },
      'Publishing enhanced CloudWatch metrics',
    );
    return true;
  }

  stop(): void {
    this.#stopping.abort();
    this.#job?.stop();
    this.#job = undefined;
  }

  /** One round: sample, batch, publish. Never throws: the outcome goes to the log, state and metrics. */
  async publishOnce(): Promise<void> {
    const { clock, log, state, metrics, intervalSeconds } = this.#options;
    const signal = AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(intervalSeconds * 1000)]);
    try {
      const sample = await this.#options.sample(signal);
      const datums = enhancedMetricDatums(sample, this.#options.identity, new Date(clock.now()));
      const { batches, rejected } = batchDatums(datums);
      if (rejected > 0) log.warn({ rejected }, 'Left out metric datums CloudWatch would reject');
      const publisher = await this.#options.publisher();
      let sent = 0;
      for (const batch of batches) {
        await retry(
          async () => {
            try {
              await publisher.putMetricData(this.#namespace, batch, signal);
              metrics?.cloudwatchRequests.inc({ outcome: 'success' });
            } catch (error) {
              metrics?.cloudwatchRequests.inc({ outcome: toTaupageError(error).code });
              throw error;
            }
          },
          putMetricDataRetryPolicy(intervalSeconds),
          {
            clock,
            signal,
            isRetriable: (error) => isTaupageError(error) && error.retriable,
            onRetry: (error, attempt, delayMs) => {
              log.warn({ attempt, delayMs, err: error }, 'PutMetricData failed, retrying');
            },
          },
        );
        sent += batch.length;
        metrics?.cloudwatchDatums.inc(batch.length);
      }
      state.cloudwatchPublished(new Date(clock.now()).toISOString(), sent);
      log.debug({ datums: sent, requests: batches.length }, 'Published enhanced CloudWatch metrics');
    } catch (error) {
      if (this.#stopping.signal.aborted) return;
      const failure = toTaupageError(error);
      const at = new Date(clock.now()).toISOString();
      state.cloudwatchFailed(at, failure.code);
      this.#options.errors.reportFailure('cloudwatch', failure, { audit: false });
      log.warn({ code: failure.code, err: failure }, 'Could not publish enhanced CloudWatch metrics');
    }
  }
}
