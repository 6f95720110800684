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
  #tasksStop: AbortController | undefined;
  #shipper: AuditShipper | undefined;
  #shipperStop: AbortController | undefined;

  constructor(options: AgentAuditOptions) {
    this.#o = options;
    this.#log = options.log.child({ component: 'audit' });
  }

  start(signal: AbortSignal): void {
    // Their own controller: after a failed boot the agent stops without a signal.
    const tasksStop = new AbortController();
    this.#tasksStop = tasksStop;
    signal.addEventListener(
      'abort',
      () => {
        tasksStop.abort();
      },
      { once: true },
    );
    for (const task of this.#o.tasks)
      this.#running.push(
        task(tasksStop.signal).catch((error: unknown) => {
          this.#log.error({ err: error }, 'An audit watcher stopped');
        }),
      );
  }

  identify(identity: InstanceIdentity): void {
    this.#o.trail.instanceId = identity.instanceId;
    if (this.#shipperStop !== undefined) return;
    const stop = new AbortController();
    this.#shipperStop = stop;
    this.#running.push(
      this.#o.sinks(identity).then(
        async (sinks) => {
          if (sinks.length === 0) {
            this.#log.warn('No audit sink configured: the audit trail stays on this host');
            return;
          }
          const shipper = new AuditShipper({
            file: this.#o.trail.file,
            stateFile: this.#o.shipperStateFile,
            sinks,
            clock: this.#o.clock,
            log: this.#o.log,
          });
          this.#shipper = shipper;
          this.#o.trail.onRecord(() => {
            shipper.poke();
          });
          await shipper.run(stop.signal);
        },
        (error: unknown) => {
          this.#log.error({ err: error }, 'Cannot set up audit shipping');
        },
      ),
    );
  }

  record(type: AuditEventType, data: Readonly<Record<string, unknown>>): void {
    const pending = this.#o.trail.record(type, data).catch((error: unknown) => {
      this.#log.error({ err: error, type }, 'Cannot record an audit event');
    });
    this.#pendingRecords.add(pending);
    void pending.finally(() => this.#pendingRecords.delete(pending));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#pendingRecords);
    this.#shipperStop?.abort();
    this.#tasksStop?.abort();
    await Promise.all(this.#running);
    const flushed = await this.#shipper?.flush(AbortSignal.timeout(AUDIT_FLUSH_TIMEOUT_MS));
    if (flushed === false)
      this.#log.warn('Audit events left unshipped at shutdown; they ship at the next start');
  }
}
