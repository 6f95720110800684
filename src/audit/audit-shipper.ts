import { mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Clock } from '../core/clock.js';
import { isTaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { retry, type RetryPolicy } from '../core/retry.js';
import { readOrEmpty, writeFileAtomically } from './atomic-file.js';
import type { AuditEvent } from './audit-event.js';
import type { AuditBatch, AuditSink } from './audit-sink.js';

/**
 * Events written by this process wake the shipper at once; events of other processes (the
 * forced command) are picked up by this poll. Seconds, not "at session end" (amazon-ssm-agent#153).
 */
export const SHIP_POLL_MS = 2_000;
/** Coalesces a burst (grant + login + …) into one object instead of one PUT per line. */
export const SHIP_COALESCE_MS = 100;
/** One PUT stays small and fast; S3 would take 5 GB, log-sink proxies through a JVM. */
export const MAX_BATCH_BYTES = 1024 * 1024;
/**
 * Per batch: 4 attempts from 500 ms, doubling, capped at 5 s, within 15 s. Then the batch waits
 * for the next round (nothing is dropped: the offset only moves on acknowledgement).
 */
export const SHIP_RETRY_POLICY: RetryPolicy = {
  name: 'audit-ship',
  maxAttempts: 4,
  initialDelayMs: 500,
  maxDelayMs: 5_000,
  multiplier: 2,
  budgetMs: 15_000,
  jitter: true,
};

export const DEFAULT_SHIPPER_STATE_FILE = '/var/lib/taupage/audit-shipper.json';

interface ShipperState {
  readonly ino: number;
  /** Bytes of the trail acknowledged by each sink. */
  readonly offsets: Record<string, number>;
}

export interface AuditShipperOptions {
  readonly file: string;
  readonly stateFile: string;
  readonly sinks: readonly AuditSink[];
  readonly clock: Clock;
  readonly log: Logger;
  readonly pollMs?: number;
}

/**
 * Copies the local trail to every sink, continuously, in order, at-least-once: each sink has
 * its own byte offset in a state file, advanced only after the sink acknowledged the batch.
 */
export class AuditShipper {
  readonly #o: AuditShipperOptions;
  readonly #log: Logger;
  readonly #sinks: AuditSink[];
  #wake: (() => void) | undefined;
  #pending = false;

  constructor(options: AuditShipperOptions) {
    this.#o = options;
    this.#sinks = [...options.sinks];
    this.#log = options.log.child({ component: 'audit-shipper' });
  }

  /** A sink known only later (log-sink needs the boot's config): it starts at its own offset. */
  addSink(sink: AuditSink): void {
    if (this.#sinks.some((known) => known.name === sink.name)) return;
    this.#sinks.push(sink);
    this.#log.info({ sink: sink.name }, 'Shipping the audit trail to another sink');
    this.poke();
  }

  /** Ship soon: an event was just recorded by this process. */
  poke(_event?: AuditEvent): void {
    this.#pending = true;
    this.#wake?.();
  }

  async run(signal: AbortSignal): Promise<void> {
    this.#log.info({ sinks: this.#sinks.map((s) => s.name) }, 'Shipping the audit trail');
    while (!signal.aborted) {
      await this.shipOnce(signal);
      if (this.#pending) {
        this.#pending = false;
        continue;
      }
      await this.#waitForWork(signal);
      this.#pending = false;
    }
  }

  /** Until the poll interval passes, an event of this process arrives (+ coalescing), or shutdown. */
  async #waitForWork(signal: AbortSignal): Promise<void> {
    // Its own controller: the timers of a finished wait must not fire into the next one.
    const wait = new AbortController();
    const stopWaiting = (): void => {
      wait.abort();
    };
    signal.addEventListener('abort', stopWaiting, { once: true });
    this.#wake = () => {
      this.#wake = undefined;
      // A short pause so a burst of events becomes one batch.
      this.#o.clock.sleep(SHIP_COALESCE_MS).then(stopWaiting, stopWaiting);
    };
    try {
      await this.#o.clock.sleep(this.#o.pollMs ?? SHIP_POLL_MS, wait.signal);
    } catch {
      // woken up or shutting down
    } finally {
      this.#wake = undefined;
      signal.removeEventListener('abort', stopWaiting);
    }
  }

  /** Ships everything written so far (on shutdown, with the caller's deadline in `signal`). */
  async flush(signal: AbortSignal): Promise<boolean> {
    return this.shipOnce(signal);
  }

  /** One round: for each sink, every complete line past its offset. Returns whether all caught up. */
  async shipOnce(signal: AbortSignal): Promise<boolean> {
    let current;
    try {
      current = await stat(this.#o.file);
    } catch {
      return true; // nothing recorded yet
    }
    let state = await this.#readState();
    if (state.ino !== current.ino) state = { ino: current.ino, offsets: {} }; // a new (rotated) file
    let allCaughtUp = true;
    for (const sink of this.#sinks) {
      let offset = state.offsets[sink.name] ?? 0;
      if (offset > current.size) offset = 0; // truncated: start over
      while (offset < current.size && !signal.aborted) {
        const batch = await this.#readBatch(offset, current.size);
        if (batch === undefined) break; // only a partial line so far
        try {
          await retry(() => sink.put(batch.batch, signal), SHIP_RETRY_POLICY, {
            clock: this.#o.clock,
            signal,
            isRetriable: (error) => !isTaupageError(error) || error.retriable,
          });
        } catch (error) {
          this.#log.error(
            { err: error, sink: sink.name, firstSeq: batch.batch.firstSeq },
            'Failed to ship audit events',
          );
          allCaughtUp = false;
          break;
        }
        offset = batch.end;
        state = { ino: current.ino, offsets: { ...state.offsets, [sink.name]: offset } };
        await this.#writeState(state);
        this.#log.debug(
          { sink: sink.name, firstSeq: batch.batch.firstSeq, lastSeq: batch.batch.lastSeq },
          'Shipped audit events',
        );
      }
      if (offset < current.size) allCaughtUp = false;
    }
    return allCaughtUp;
  }

  async #readBatch(offset: number, size: number): Promise<{ batch: AuditBatch; end: number } | undefined> {
    const length = Math.min(size - offset, MAX_BATCH_BYTES);
    const buffer = Buffer.alloc(length);
    const handle = await open(this.#o.file, 'r');
    try {
      await handle.read(buffer, 0, length, offset);
    } finally {
      await handle.close();
    }
    const lastNewline = buffer.lastIndexOf(0x0a);
    if (lastNewline < 0) return undefined;
    const body = buffer.subarray(0, lastNewline + 1).toString('utf8');
    const lines = body.split('\n').filter((line) => line !== '');
    const first = JSON.parse(lines[0] ?? '{}') as Partial<AuditEvent>;
    const last = JSON.parse(lines.at(-1) ?? '{}') as Partial<AuditEvent>;
    return {
      batch: {
        instanceId: last.instanceId ?? 'unknown',
        bootId: first.bootId ?? 'unknown',
        firstSeq: first.seq ?? 0,
        lastSeq: last.seq ?? 0,
        firstTs: first.ts ?? new Date(this.#o.clock.now()).toISOString(),
        body,
      },
      end: offset + lastNewline + 1,
    };
  }

  async #readState(): Promise<ShipperState> {
    try {
      const parsed = JSON.parse(await readOrEmpty(this.#o.stateFile)) as Partial<ShipperState>;
      return { ino: parsed.ino ?? -1, offsets: parsed.offsets ?? {} };
    } catch {
      return { ino: -1, offsets: {} };
    }
  }

  async #writeState(state: ShipperState): Promise<void> {
    await mkdir(dirname(this.#o.stateFile), { recursive: true, mode: 0o700 });
    await writeFileAtomically(this.#o.stateFile, `${JSON.stringify(state)}\n`);
  }
}
