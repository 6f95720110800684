import { open, truncate } from 'node:fs/promises';
import type { SpoolPosition } from './spool-state-file.js';

// Helpers of LogSpool that work on segment files and positions.

export function comparePositions(a: SpoolPosition, b: SpoolPosition): number {
  return a.segment === b.segment ? a.offset - b.offset : a.segment - b.segment;
}

/** Cuts a half-written last line (a crash between write and fsync); returns the new size. */
export async function cutTornTail(path: string, size: number): Promise<number> {
  if (size === 0) return 0;
  const handle = await open(path, 'r');
  let keep: number;
  try {
    const tail = Math.min(size, 16 * 1024 * 1024);
    const buffer = Buffer.allocUnsafe(tail);
    await handle.read(buffer, 0, tail, size - tail);
    const end = buffer.lastIndexOf(0x0a);
    keep = end < 0 ? size - tail : size - tail + end + 1;
  } finally {
    await handle.close();
  }
  if (keep !== size) await truncate(path, keep);
  return keep;
}

/** Records (lines) in a segment file from `offset` to its end. */
export async function countLines(path: string, offset: number): Promise<number> {
  const handle = await open(path, 'r');
  try {
    let count = 0;
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    for (let at = offset; ;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
      if (bytesRead === 0) return count;
      for (let i = buffer.indexOf(0x0a, 0); i >= 0 && i < bytesRead; i = buffer.indexOf(0x0a, i + 1)) count++;
      at += bytesRead;
    }
  } finally {
    await handle.close();
  }
}
