import type { Logger } from '../core/logger.js';
import { toTaupageError } from '../core/errors.js';
import { everySeconds, type Scheduler } from '../metrics/scheduler.js';

/** Port (ImdsInstanceMetadata implements it): the two IMDS paths that announce the instance's end. */
export interface TerminationNoticeSource {
  /** `spot/instance-action`; undefined while there is no notice (404). */
  spotInstanceAction(signal: AbortSignal): Promise<{ action: string; time: string } | undefined>;
  /** `autoscaling/target-lifecycle-state`; undefined outside an Auto Scaling group (404). */
  autoScalingTargetLifecycleState(signal: AbortSignal): Promise<string | undefined>;
}

export type TerminationNotice =
  /** EC2 reclaims the spot instance at `time` (about two minutes after the notice). */
  | { readonly source: 'spot'; readonly action: 'terminate' | 'stop' | 'hibernate'; readonly time: string }
  /** The Auto Scaling group moves the instance out of service (a termination hook may be waiting). */
  | { readonly source: 'autoscaling'; readonly targetState: string };

/**
 * Target states after which the app will not keep running here: terminated, or stopped /
 * hibernated into a warm pool. `Detached` and `Warmed:Running` keep the instance running, so
 * they are not a notice; `InService` and `Pending` are the normal ones.
 */
export const TERMINAL_TARGET_STATES: readonly string[] = [
  'Terminated',
  'Warmed:Terminated',
  'Warmed:Stopped',
  'Warmed:Hibernated',
];

const SPOT_ACTIONS = ['terminate', 'stop', 'hibernate'] as const;

/** What the two IMDS answers mean; the spot notice wins (it has a deadline). */
export function terminationNoticeOf(
  spot: { action: string; time: string } | undefined,
  targetState: string | undefined,
): TerminationNotice | undefined {
  const action = SPOT_ACTIONS.find((known) => known === spot?.action);
  if (spot !== undefined && action !== undefined) return { source: 'spot', action, time: spot.time };
  if (targetState !== undefined && TERMINAL_TARGET_STATES.includes(targetState))
    return { source: 'autoscaling', targetState };
  return undefined;
}

/**
 * ECS polls spot/instance-action every second; a spot notice gives two minutes and a
 * termination hook an hour by default, so every 5 s costs little (2 IMDS GETs) and leaves
 * nearly all of the two minutes to the drain.
 */
export const LIFECYCLE_POLL_SECONDS = 5;

export interface LifecycleWatcherOptions {
  readonly source: TerminationNoticeSource;
  readonly scheduler: Scheduler;
  readonly log: Logger;
  /** Called once, with the first notice; polling stops then. */
  readonly onTermination: (notice: TerminationNotice) => void;
  readonly intervalSeconds?: number;
  /** Shown in GET /status (lastErrors): the first failed poll of an outage, once. */
  readonly recordError?: (error: { at: string; component: string; code: string; message: string }) => void;
}

/**
 * Polls IMDS for a spot interruption or an Auto Scaling target state that ends the instance,
 * and reports the first one. IMDS failures are logged once (and once when it answers again),
 * never fatal: the next poll retries.
 */
export class LifecycleWatcher {
  readonly #options: LifecycleWatcherOptions;
  readonly #stopping = new AbortController();
  #job: { stop(): void } | undefined;
  #notice: TerminationNotice | undefined;
  #failing = false;

  constructor(options: LifecycleWatcherOptions) {
    this.#options = options;
  }

  /** The notice reported, if any. */
  get notice(): TerminationNotice | undefined {
    return this.#notice;
  }

  start(): void {
    if (this.#job !== undefined || this.#notice !== undefined) return;
    const seconds = this.#options.intervalSeconds ?? LIFECYCLE_POLL_SECONDS;
    this.#job = this.#options.scheduler.schedule(everySeconds(seconds), async () => {
      await this.pollOnce();
    });
  }

  stop(): void {
    this.#stopping.abort();
    this.#job?.stop();
    this.#job = undefined;
  }

  /** One poll (both paths). Never throws. */
  async pollOnce(): Promise<TerminationNotice | undefined> {
    if (this.#notice !== undefined) return this.#notice;
    const { source, log } = this.#options;
    const signal = AbortSignal.any([this.#stopping.signal, AbortSignal.timeout(4_000)]);
    let notice: TerminationNotice | undefined;
    try {
      const [spot, target] = await Promise.all([
        source.spotInstanceAction(signal),
        source.autoScalingTargetLifecycleState(signal),
      ]);
      if (this.#failing) log.info('IMDS answers the lifecycle polls again');
      this.#failing = false;
      notice = terminationNoticeOf(spot, target);
    } catch (error) {
      if (this.#stopping.signal.aborted) return undefined;
      if (!this.#failing) {
        const failure = toTaupageError(error);
        log.warn(
          { code: failure.code, reason: failure.message },
          'Could not poll IMDS for termination notices',
        );
        this.#options.recordError?.({
          at: new Date().toISOString(),
          component: 'imds',
          code: failure.code,
          message: `Could not poll IMDS for termination notices: ${failure.message}`,
        });
      }
      this.#failing = true;
      return undefined;
    }
    // A concurrent poll (a manual one beside the schedule) may have reported meanwhile.
    if (notice === undefined || this.notice !== undefined) return this.notice;
    this.#notice = notice;
    this.#job?.stop();
    this.#job = undefined;
    log.warn({ notice }, 'The instance is going away: draining');
    this.#options.onTermination(notice);
    return notice;
  }
}
