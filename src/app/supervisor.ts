import type { AuditEventType } from '../audit/audit-event.js';
import type { ShutdownPolicy } from '../config/taupage-config.js';
import type { Clock } from '../core/clock.js';
import { toTaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { watchContainerEvents, type ContainerEvents } from '../docker/container-events.js';
import type { ContainerInfo, ContainerRuntime, ContainerSpec } from '../docker/container-runtime.js';
import {
  ContainerWatch,
  type ContainerOccurrence,
  type LastSeenContainer,
} from '../docker/container-watch.js';
import { writeLastSeen } from '../docker/last-seen-file.js';
import { powerOffReason } from '../lifecycle/host-power.js';
import type { AgentState } from '../status/agent-state.js';

/**
 * How often the supervisor re-inspects the container. Docker events wake it at once; this
 * covers the events it never gets (the stream is lossy, ECS learned it in ecs-agent#242).
 */
export const SUPERVISE_INTERVAL_MS = 5_000;

export interface SupervisorOptions {
  readonly runtime: ContainerRuntime;
  /** undefined: re-inspect only (no event stream). */
  readonly events: ContainerEvents | undefined;
  readonly clock: Clock;
  readonly log: Logger;
  readonly state: AgentState;
  readonly containerName: string;
  readonly containerId: string;
  /** The spec the boot created the container from: used again when it is removed under us. */
  readonly spec: () => ContainerSpec;
  readonly shutdown: ShutdownPolicy;
  readonly lastSeen: LastSeenContainer | undefined;
  /** Where the watch's memory goes after every change; undefined: not kept. */
  readonly lastSeenFile: string | undefined;
  readonly audit: (type: AuditEventType, data: Readonly<Record<string, unknown>>) => void;
  readonly count: (kind: string) => void;
  readonly recordError: (component: string, code: string, message: string) => void;
  /** Every round, before the inspect (the agent refreshes log shipping state there). */
  readonly onTick?: () => void;
}

export type SupervisorOutcome = { readonly powerOff: string } | undefined;

/**
 * Keeps the app container as the config says and reports what happens to it: periodic
 * re-inspect plus Docker events, restarts/exits/OOM kills/crash loops reported once each, a
 * removed container recreated from the same spec, and `shutdown:` decided on a final exit.
 */
export class Supervisor {
  readonly #o: SupervisorOptions;
  readonly #watch: ContainerWatch;
  #id: string;
  #wake = new AbortController();
  #persisted = '';

  constructor(options: SupervisorOptions) {
    this.#o = options;
    this.#id = options.containerId;
    this.#watch = new ContainerWatch({
      maximumRetryCount: options.spec().restartPolicy.maximumRetryCount,
      lastSeen: options.lastSeen,
    });
    options.state.containerHistoryKept(this.#watch.history);
  }

  /** Runs until `signal` aborts (undefined) or the shutdown policy says power off. */
  async run(signal: AbortSignal): Promise<SupervisorOutcome> {
    const { clock, log } = this.#o;
    log.info({ intervalMs: SUPERVISE_INTERVAL_MS, events: this.#o.events !== undefined }, 'Supervising');
    const stopEvents = new AbortController();
    const events =
      this.#o.events === undefined
        ? Promise.resolve()
        : watchContainerEvents({
            events: this.#o.events,
            name: this.#o.containerName,
            clock,
            log,
            onEvent: (event) => {
              this.#report(this.#watch.event(event, clock.now()));
              log.debug({ action: event.action, exitCode: event.exitCode }, 'Docker event');
              this.#wake.abort();
            },
            onGap: () => {
              this.#wake.abort();
            },
            signal: AbortSignal.any([signal, stopEvents.signal]),
          });
    const stopped = (): boolean => signal.aborted;
    try {
      for (;;) {
        if (stopped()) return undefined;
        const reason = await this.#round(signal);
        if (reason !== undefined) return { powerOff: reason };
        try {
          await clock.sleep(SUPERVISE_INTERVAL_MS, AbortSignal.any([signal, this.#wake.signal]));
        } catch {
          if (stopped()) return undefined;
        }
        this.#wake = new AbortController();
      }
    } finally {
      stopEvents.abort();
      await events;
    }
  }

  /** One look at the container; returns a power-off reason when the shutdown policy says so. */
  async #round(signal: AbortSignal): Promise<string | undefined> {
    const o = this.#o;
    o.onTick?.();
    let info: ContainerInfo | undefined;
    try {
      info =
        (await o.runtime.inspectContainer(this.#id, signal)) ??
        // Replaced under the same name (by an operator, or our own recreate racing): follow it.
        (await o.runtime.findContainer(o.containerName, signal));
    } catch (error) {
      if (!signal.aborted) this.#fail('Cannot inspect the container', error);
      return undefined;
    }
    const previous = o.state.container;
    if (info !== undefined) this.#id = info.id;
    this.#report(this.#watch.observe(info, o.clock.now()));
    o.state.containerObserved(info, o.clock.now());
    if (info === undefined) {
      await this.#recreate(signal);
      return undefined;
    }
    if (previous?.id === info.id && previous.state !== info.state)
      o.log.info({ state: info.state, exitCode: info.exitCode }, 'Container state changed');
    if (
      info.state !== 'running' &&
      previous?.state === 'running' &&
      info.restartCount === previous.restartCount
    )
      o.audit('container.stop', { id: info.id, state: info.state, exitCode: info.exitCode ?? null });
    await this.#persist(signal);
    return powerOffReason(o.shutdown, info);
  }

  /**
   * `docker rm -f` while the agent runs: the config still says the app should run, so the
   * container is created again from the same spec (same name, labels and digest) and started.
   * A failure is recorded and retried on the next round.
   */
  async #recreate(signal: AbortSignal): Promise<void> {
    const o = this.#o;
    try {
      const created = await o.runtime.createContainer(o.spec(), signal);
      await o.runtime.startContainer(created.id, signal);
      this.#id = created.id;
      this.#watch.history.recreated++;
      o.count('recreated');
      o.log.warn({ id: created.id }, 'Recreated the container after it was removed');
      o.audit('container.start', { id: created.id, reason: 'recreated after removal' });
      this.#wake.abort(); // inspect the new one at once
    } catch (error) {
      if (!signal.aborted) this.#fail('Cannot recreate the removed container', error);
    }
  }

  async #persist(signal: AbortSignal): Promise<void> {
    const file = this.#o.lastSeenFile;
    const lastSeen = this.#watch.lastSeen;
    if (file === undefined || lastSeen === undefined) return;
    const text = JSON.stringify(lastSeen);
    if (text === this.#persisted || signal.aborted) return;
    try {
      await writeLastSeen(file, lastSeen);
      this.#persisted = text;
    } catch (error) {
      this.#o.log.warn({ err: error, file }, 'Cannot keep the supervisor state');
    }
  }

  #report(occurrences: readonly ContainerOccurrence[]): void {
    const o = this.#o;
    for (const item of occurrences) {
      o.count(item.kind);
      const fields = { kind: item.kind, exitCode: item.exitCode, whileAgentDown: item.whileAgentDown };
      if (item.kind === 'exited' && item.exitCode === 0) o.log.info(fields, item.message);
      else o.log.warn(fields, item.message);
      if (item.kind === 'restarted')
        o.audit('container.restart', {
          id: this.#id,
          restarts: item.count,
          exitCode: item.exitCode ?? null,
          whileAgentDown: item.whileAgentDown,
        });
    }
  }

  #fail(message: string, error: unknown): void {
    const failure = toTaupageError(error);
    this.#o.log.warn({ err: error }, `${message}: ${failure.message}`);
    this.#o.recordError('supervisor', failure.code, `${message}: ${failure.message}`);
  }
}
