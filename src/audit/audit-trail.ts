import { mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import {
  GENESIS_HASH,
  sealEvent,
  serializeEvent,
  type AuditEvent,
  type AuditEventType,
} from './audit-event.js';
import { readOrEmpty, writeFileAtomically } from './atomic-file.js';
import { withFileLock } from './file-lock.js';

export const DEFAULT_AUDIT_FILE = '/var/log/taupage/audit.jsonl';
/** The last line is found in the file's tail; events are far smaller than this. */
const TAIL_BYTES = 64 * 1024;

export interface AuditTrailOptions {
  readonly file: string;
  readonly clock: Clock;
  readonly bootId: string;
  /** Unknown to the forced command: then the previous event's instance id is carried on. */
  readonly instanceId?: string | undefined;
  readonly log?: Logger | undefined;
}

/** Port used by the code that has something to audit. */
export interface AuditRecorder {
  record(type: AuditEventType, data: Readonly<Record<string, unknown>>): Promise<AuditEvent>;
}

/**
 * The local, hash-chained trail: JSON lines appended under a lock (the agent and each forced
 * command run append to the same file), fsync'ed before `record` resolves. The shipper copies it
 * off the host within seconds; locally it is evidence, not the only copy.
 */
export class AuditTrail implements AuditRecorder {
  readonly #options: AuditTrailOptions;
  /** Set by the agent once IMDS answered; until then the previous event's id is carried on. */
  instanceId: string | undefined;
  readonly #listeners = new Set<(event: AuditEvent) => void>();

  constructor(options: AuditTrailOptions) {
    this.#options = options;
    this.instanceId = options.instanceId;
  }

  get file(): string {
    return this.#options.file;
  }

  /** Called after each event is on disk (the shipper uses it to ship at once). */
  onRecord(listener: (event: AuditEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async record(type: AuditEventType, data: Readonly<Record<string, unknown>>): Promise<AuditEvent> {
    const { file, clock } = this.#options;
    await mkdir(dirname(file), { recursive: true, mode: 0o750 });
    const event = await withFileLock(file, clock, async () => {
      // An empty file after rotation continues the chain from the head, not from genesis.
      const last = (await readLastEvent(file)) ?? (await readHead(file));
      const sealed = sealEvent({
        v: 1,
        seq: (last?.seq ?? 0) + 1,
        ts: new Date(clock.now()).toISOString(),
        instanceId: this.instanceId ?? last?.instanceId ?? 'unknown',
        bootId: this.#options.bootId,
        type,
        data,
        prev: last?.hash ?? GENESIS_HASH,
      });
      const handle = await open(file, 'a', 0o640);
      try {
        await handle.appendFile(`${serializeEvent(sealed)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await writeFileAtomically(headFile(file), `${serializeEvent(sealed)}\n`);
      return sealed;
    });
    this.#options.log?.debug({ seq: event.seq, type }, 'Recorded audit event');
    for (const listener of this.#listeners) listener(event);
    return event;
  }
}

/** A copy of the last event beside the trail: rotation (logrotate) must not restart the chain. */
function headFile(file: string): string {
  return `${file}.head`;
}

async function readHead(file: string): Promise<AuditEvent | undefined> {
  const text = await readOrEmpty(headFile(file));
  return text.trim() === '' ? undefined : (JSON.parse(text) as AuditEvent);
}

/** The last complete line of the trail, parsed; undefined for a new or empty file. */
export async function readLastEvent(file: string): Promise<AuditEvent | undefined> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (size === 0) return undefined;
  const handle = await open(file, 'r');
  try {
    const length = Math.min(size, TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const lines = buffer
      .toString('utf8')
      .split('\n')
      .filter((line) => line.trim() !== '');
    const last = lines.at(-1);
    return last === undefined ? undefined : (JSON.parse(last) as AuditEvent);
  } finally {
    await handle.close();
  }
}

/** The kernel's id of this boot: tells events of different boots apart without a clock. */
export async function readBootId(path = '/proc/sys/kernel/random/boot_id'): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return 'unknown';
  }
}
