import { GENESIS_HASH, hashEvent, type AuditEvent } from './audit-event.js';

export interface ChainProblem {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly kind: 'not-json' | 'edited' | 'missing-before' | 'reordered';
  readonly message: string;
}

export interface ChainReport {
  readonly ok: boolean;
  readonly events: number;
  readonly firstSeq: number | undefined;
  readonly lastSeq: number | undefined;
  readonly lastHash: string | undefined;
  readonly problems: readonly ChainProblem[];
}

function isEvent(value: unknown): value is AuditEvent {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  return (
    e.v === 1 &&
    typeof e.seq === 'number' &&
    typeof e.ts === 'string' &&
    typeof e.hash === 'string' &&
    typeof e.prev === 'string' &&
    typeof e.type === 'string' &&
    typeof e.data === 'object'
  );
}

/**
 * Checks every line's own hash (an edit shows up on that line) and the link to the line before
 * (a deleted or reordered line shows up on the line after it). A trail must start at seq 1 and
 * genesis unless `allowRotated` (then it is checked from its first line on).
 * Truncation of the last lines cannot be seen locally: the shipped copy is the reference.
 */
export function verifyAuditChain(text: string, options: { allowRotated?: boolean } = {}): ChainReport {
  const problems: ChainProblem[] = [];
  let previous: AuditEvent | undefined;
  let events = 0;
  let firstSeq: number | undefined;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      problems.push({ line, kind: 'not-json', message: `line ${line}: not a JSON audit event` });
      previous = undefined;
      return;
    }
    if (!isEvent(parsed)) {
      problems.push({ line, kind: 'not-json', message: `line ${line}: not an audit event` });
      previous = undefined;
      return;
    }
    events++;
    firstSeq ??= parsed.seq;
    if (hashEvent(parsed) !== parsed.hash) {
      problems.push({
        line,
        kind: 'edited',
        message: `line ${line} (seq ${parsed.seq}): edited — its hash does not match its content`,
      });
    }
    if (previous !== undefined) {
      if (parsed.prev !== previous.hash) {
        const kind =
          parsed.seq > previous.seq + 1
            ? 'missing-before'
            : parsed.seq <= previous.seq
              ? 'reordered'
              : 'missing-before';
        const gap = parsed.seq - previous.seq - 1;
        problems.push({
          line,
          kind,
          message:
            kind === 'reordered'
              ? `line ${line} (seq ${parsed.seq}): out of order after seq ${previous.seq}`
              : `line ${line} (seq ${parsed.seq}): ${gap > 0 ? `${gap} line(s) deleted before it (expected seq ${previous.seq + 1})` : 'does not link to the line before it (deleted or replaced line)'}`,
        });
      } else if (parsed.seq !== previous.seq + 1) {
        problems.push({
          line,
          kind: 'edited',
          message: `line ${line}: sequence number edited (expected ${previous.seq + 1})`,
        });
      }
    } else if (index === 0 && parsed.seq === 1 && parsed.prev !== GENESIS_HASH) {
      problems.push({
        line,
        kind: 'edited',
        message: `line ${line}: the first event does not start at genesis`,
      });
    } else if (index === 0 && parsed.seq !== 1 && options.allowRotated !== true) {
      problems.push({
        line,
        kind: 'missing-before',
        message: `line ${line}: the trail starts at seq ${parsed.seq} — ${parsed.seq - 1} line(s) deleted from the start (or a rotated file: --allow-rotated)`,
      });
    }
    previous = parsed;
  });
  return {
    ok: problems.length === 0,
    events,
    firstSeq,
    lastSeq: previous?.seq,
    lastHash: previous?.hash,
    problems,
  };
}
