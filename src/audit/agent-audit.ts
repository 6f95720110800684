import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { InstanceIdentity } from '../metadata/instance-metadata.js';
import type { AuditEventType } from './audit-event.js';
import { AuditShipper } from './audit-shipper.js';
import type { AuditSink } from './audit-sink.js';
import type { AuditTrail } from './audit-trail.js';

/** How long shutdown waits for the last events to leave the host. */
export const AUDIT_FLUSH_TIMEOUT_MS = 8_000;

/** What the agent does with the audit trail: the port it sees (see src/app/agent.ts). */
export interface AgentAudit {
  /** Starts shipping and the background watchers (SSH expiry, auth log). */
  start(signal: AbortSignal): void;
  /** The instance is known (after the imds step): events carry its id, the sinks can start. */
  identify(identity: InstanceIdentity): void;
  /** Fire and forget: a failure to audit is logged, never fails the caller. */
  record(type: AuditEventType, data: Readonly<Record<string, unknown>>): void;
  /** Ships what the trail holds now and keeps running; false when not everything shipped. */
  flush(signal: AbortSignal): Promise<boolean>;
  /** Flushes the trail to every sink within the deadline, then stops. */
  stop(): Promise<void>;
}

export interface AgentAuditOptions {
  readonly trail: AuditTrail;
  readonly shipperStateFile: string;
  /** Built once the identity is known (S3 needs the region; log-sink the account and instance). */
  readonly sinks: (identity: InstanceIdentity) => Promise<readonly AuditSink[]>;
  /** Long-running watchers started with the agent (the SSH grant expiry, the auth log). */
  readonly tasks: ReadonlyArray<(signal: AbortSignal) => Promise<void>>;
  readonly clock: Clock;
  readonly log: Logger;
}

export class AgentAuditService implements AgentAudit {
  readonly #o: AgentAuditOptions;
  readonly #log: Logger;
  readonly #running: Promise<unknown>[] = [];
  readonly #pendingRecords = new Set<Promise<unknown>>();
  readonly #tasksStop = new AbortController();
  readonly #shipperStop = new AbortController();
  #identified = false;
  #shipper: AuditShipper | undefined;

  constructor(options: AgentAuditOptions) {
    this.#o = options;
    this.#log = options.log.child({ component: 'audit' });
  }

  start(signal: AbortSignal): void {
    // Their own controller: after a failed boot the agent stops without a signal.
    signal.addEventListener(
      'abort',
      () => {
        this.#tasksStop.abort();
      },
      { once: true },
    );
    for (const task of this.#o.tasks) this.#runTask(task);
  }

  identify(identity: InstanceIdentity): void {
    this.#o.trail.instanceId = identity.instanceId;
    if (this.#identified) return;
    this.#identified = true;
    this.#running.push(
      this.#o.sinks(identity).then(
        (sinks) => {
          for (const sink of sinks) this.addSink(sink);
        },
        (error: unknown) => {
          this.#log.error({ err: error }, 'Cannot set up audit shipping');
        },
      ),
    );
  }

  /**
   * Ships to one more sink from now on (the log-sink, known after the boot's kms step), and runs
   * its `task` (the USER_DATA upload) alongside, stopped with the watchers.
   */
  addSink(sink: AuditSink, task?: (signal: AbortSignal) => Promise<void>): void {
    if (task !== undefined) this.#runTask(task);
    if (this.#shipper !== undefined) {
      this.#shipper.addSink(sink);
      return;
    }
    const shipper = new AuditShipper({
      file: this.#o.trail.file,
      stateFile: this.#o.shipperStateFile,
      sinks: [sink],
      clock: this.#o.clock,
      log: this.#o.log,
    });
    this.#shipper = shipper;
    this.#o.trail.onRecord(() => {
      shipper.poke();
    });
    this.#running.push(shipper.run(this.#shipperStop.signal));
  }

  record(type: AuditEventType, data: Readonly<Record<string, unknown>>): void {
    const pending = this.#o.trail.record(type, data).catch((error: unknown) => {
      this.#log.error({ err: error, type }, 'Cannot record an audit event');
    });
    this.#pendingRecords.add(pending);
    void pending.finally(() => this.#pendingRecords.delete(pending));
  }

  /** Ships what the trail holds now, while it keeps running (a termination notice). */
  async flush(signal: AbortSignal): Promise<boolean> {
    await Promise.all(this.#pendingRecords);
    return this.#shipper === undefined ? false : this.#shipper.flush(signal);
  }

  async stop(): Promise<void> {
    await Promise.all(this.#pendingRecords);
    this.#shipperStop.abort();
    this.#tasksStop.abort();
    await Promise.all(this.#running);
    if (this.#shipper === undefined) {
      this.#log.warn('No audit sink configured: the audit trail stayed on this host');
      return;
    }
    const flushed = await this.#shipper.flush(AbortSignal.timeout(AUDIT_FLUSH_TIMEOUT_MS));
    if (!flushed) this.#log.warn('Audit events left unshipped at shutdown; they ship at the next start');
  }

  #runTask(task: (signal: AbortSignal) => Promise<void>): void {
    this.#running.push(
      task(this.#tasksStop.signal).catch((error: unknown) => {
        this.#log.error({ err: error }, 'An audit watcher stopped');
      }),
    );
  }
}
