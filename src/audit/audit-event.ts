import { createHash } from 'node:crypto';

/** Everything that leaves an audit record. Names are stable: they are what auditors query. */
export type AuditEventType =
  | 'agent.boot'
  | 'agent.stop'
  | 'agent.error'
  | 'config.digest'
  | 'container.start'
  | 'container.stop'
  | 'container.restart'
  | 'sshd.configured'
  | 'ssh.grant'
  | 'ssh.revoke'
  | 'ssh.expire'
  | 'ssh.rejected'
  | 'ssh.login'
  | 'ssh.logout';

/** One line of the trail. Field order is fixed: the hash covers the serialised line. */
export interface AuditEvent {
  readonly v: 1;
  /** 1, 2, 3 … across the whole file, also across agent restarts and reboots. */
  readonly seq: number;
  /** UTC, ISO 8601 with milliseconds. */
  readonly ts: string;
  readonly instanceId: string;
  readonly bootId: string;
  readonly type: AuditEventType;
  readonly data: Readonly<Record<string, unknown>>;
  /** The previous event's hash (GENESIS_HASH for the first). */
  readonly prev: string;
  /** sha256 (hex) of this line serialised without `hash`. */
  readonly hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

export type UnsealedEvent = Omit<AuditEvent, 'hash'>;

export function hashEvent(event: UnsealedEvent): string {
  const { v, seq, ts, instanceId, bootId, type, data, prev } = event;
  const canonical = JSON.stringify({ v, seq, ts, instanceId, bootId, type, data, prev });
  return createHash('sha256').update(canonical).digest('hex');
}

export function sealEvent(event: UnsealedEvent): AuditEvent {
  return { ...event, hash: hashEvent(event) };
}

export function serializeEvent(event: AuditEvent): string {
  const { v, seq, ts, instanceId, bootId, type, data, prev, hash } = event;
  return JSON.stringify({ v, seq, ts, instanceId, bootId, type, data, prev, hash });
}
