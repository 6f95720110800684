import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { DockerLogEntries, type DockerLogFormat } from './docker-log-file-format.js';

/**
 * A container's log files as dockerd rotates them: the live file and its rotated copies, known
 * by inode and by the time of their first entry (their names shift at every rotation). Used by
 * LogFileFollower (docker-log-file-follower.ts).
 */
export interface ChainFile {
  readonly path: string;
  readonly compressed: boolean;
  readonly ino: bigint | undefined;
  /** The first entry's time; undefined for an empty file (the newest, just created). */
  readonly first: bigint | undefined;
}

const HEAD_BYTES = 64 * 1024;

/**
 * The file to read after one that began at `after` (or, for a file that never held an entry,
 * after the last line taken): the one that began next, else the newest, still empty one.
 */
export function nextFile(
  chain: readonly ChainFile[],
  after: bigint | undefined,
  taken: bigint | undefined,
  notIno?: bigint,
): ChainFile | undefined {
  const from = after ?? taken;
  const later = chain
    .filter((f) => f.ino === undefined || f.ino !== notIno)
    .filter((f) => f.first === undefined || from === undefined || f.first > from);
  return later[0];
}

/**
 * The live file and its rotated copies (`.1`, `.2.gz`…), oldest first by their first entry.
 * dockerd renames them all at each rotation, so a name read from the directory may name another
 * file a moment later: the listing is taken until two in a row agree (names and inodes), and each
 * head is read through a handle whose inode is checked.
 */
export async function listChain(path: string, format: DockerLogFormat): Promise<ChainFile[]> {
  for (let attempt = 0; ; attempt++) {
    const before = await snapshot(path);
    const files: ChainFile[] = [];
    let moved = false;
    for (const [file, ino] of before) {
      const compressed = file.endsWith('.gz');
      const handle = await openFile(file, ino);
      if (!handle) {
        moved = true;
        break;
      }
      let first: bigint | undefined;
      try {
        first = await firstEntryTime(handle, compressed, format);
      } catch {
        first = undefined; // a .gz still being written
      } finally {
        await handle.close();
      }
      files.push({ path: file, compressed, ino, first });
    }
    const after = await snapshot(path);
    const stable = !moved && after.size === before.size && [...after].every(([f, i]) => before.get(f) === i);
    if (!stable && attempt < 50) continue;
    // `.1` and `.1.gz` side by side while dockerd compresses: one file (the complete one).
    const byFirst = new Map<bigint, ChainFile>();
    const chain: ChainFile[] = [];
    for (const file of files) {
      if (file.first === undefined) {
        if (!file.compressed) chain.push(file);
        continue;
      }
      const other = byFirst.get(file.first);
      if (!other || (other.compressed && !file.compressed)) byFirst.set(file.first, file);
    }
    chain.push(...byFirst.values());
    return chain.sort((a, b) =>
      a.first === b.first
        ? 0
        : a.first === undefined
          ? 1
          : b.first === undefined
            ? -1
            : a.first < b.first
              ? -1
              : 1,
    );
  }
}

/** The chain's file names and inodes, now. */
async function snapshot(path: string): Promise<Map<string, bigint>> {
  const dir = dirname(path);
  const name = basename(path);
  const rotated = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)(\\.gz)?$`);
  const found = new Map<string, bigint>();
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    if (entry !== name && !rotated.test(entry)) continue;
    const info = await stat(join(dir, entry), { bigint: true }).catch(() => undefined);
    if (info) found.set(join(dir, entry), info.ino);
  }
  return found;
}

async function firstEntryTime(
  handle: FileHandle,
  compressed: boolean,
  format: DockerLogFormat,
): Promise<bigint | undefined> {
  let head: Buffer;
  if (compressed) {
    const parts: Buffer[] = [];
    let bytes = 0;
    const stream = handle.createReadStream({ autoClose: false }).pipe(createGunzip());
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        parts.push(chunk);
        bytes += chunk.length;
        if (bytes >= HEAD_BYTES) break;
      }
    } finally {
      stream.destroy();
    }
    head = Buffer.concat(parts);
  } else {
    const buffer = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
    head = buffer.subarray(0, bytesRead);
  }
  const entries = new DockerLogEntries(format);
  entries.reset(head, 0, head.length);
  return entries.next() ? entries.timeNanos() : undefined;
}

/** Opens `path` if it is still the file `ino` (else undefined: it was rotated meanwhile). */
export async function openFile(path: string, ino: bigint | undefined): Promise<FileHandle | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch {
    return undefined;
  }
  if (ino !== undefined && (await handle.stat({ bigint: true })).ino !== ino) {
    await handle.close();
    return undefined;
  }
  return handle;
}
