import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { LastSeenContainer } from './container-watch.js';

/**
 * The supervisor's memory across agent restarts: the container id, its RestartCount and the
 * finish time of its last run, as last inspected. The next agent run compares the container
 * with it and reports what happened while it was down (restarts, exits, OOM kills). Ids and
 * Docker's counters only: nothing secret.
 */
export async function readLastSeen(file: string): Promise<LastSeenContainer | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined; // first run, or state lost: the watch then starts from Docker's counters
  }
  try {
    const value = JSON.parse(text) as Partial<LastSeenContainer>;
    if (typeof value.id !== 'string' || typeof value.restartCount !== 'number') return undefined;
    return {
      id: value.id,
      restartCount: value.restartCount,
      finishedAt: typeof value.finishedAt === 'string' ? value.finishedAt : undefined,
    };
  } catch {
    return undefined;
  }
}

export async function writeLastSeen(file: string, value: LastSeenContainer): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(value)}\n`, { mode: 0o600 });
}
