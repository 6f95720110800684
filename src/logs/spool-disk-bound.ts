import type { Logger } from '../core/logger.js';
import { comparePositions, countLines } from './spool-segment-files.js';
import type { SpoolSegments } from './spool-segments.js';
import type { SpoolPosition, SpoolStateFile } from './spool-state-file.js';

interface Cursor {
  acked: SpoolPosition;
  readEnd: SpoolPosition;
  dropped: number;
}

/**
 * The spool's disk bound: while the segment files (and `incomingBytes` about to be written to
 * them) hold more than `maxDiskBytes`, the oldest
 * (sealed) one is deleted, and what each destination had not yet sent from it is counted as
 * dropped and logged; its cursor moves to the next segment.
 */
export async function dropOldestSegments(
  segments: SpoolSegments,
  cursors: ReadonlyMap<string, Cursor>,
  state: SpoolStateFile,
  { maxDiskBytes }: { readonly maxDiskBytes: number },
  log: Logger | undefined,
  incomingBytes = 0,
): Promise<void> {
  let total = segments.diskBytes + incomingBytes;
  while (total > maxDiskBytes && segments.list.length > 1) {
    const victim = segments.list[0];
    if (!victim?.sealed) break;
    const next: SpoolPosition = { segment: victim.id + 1, offset: 0 };
    for (const [name, cursor] of cursors) {
      const from = comparePositions(cursor.readEnd, cursor.acked) > 0 ? cursor.readEnd : cursor.acked;
      if (from.segment > victim.id) continue;
      const lost = await countLines(segments.path(victim.id), from.offset);
      cursor.dropped += lost;
      cursor.acked = next;
      if (comparePositions(cursor.readEnd, next) < 0) cursor.readEnd = next;
      state.consumers.set(name, next);
      if (lost > 0) {
        log?.warn(
          { destination: name, dropped: lost, droppedTotal: cursor.dropped, segment: victim.id },
          'Dropped unsent log records: the spool is full',
        );
      }
    }
    total -= victim.bytes;
    await segments.deleteOldest();
  }
}
