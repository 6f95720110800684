import { open, readdir, stat } from 'node:fs/promises';
import type { TailFileHandle, TailFileStat, TailFileSystem } from './tail-file-system.js';

/** The TailFileSystem of the host, through node:fs. */
export const nodeTailFileSystem: TailFileSystem = {
  async stat(path) {
    try {
      return toStat(await stat(path, { bigint: true }));
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  },
  async open(path) {
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    const opened = handle;
    const tail: TailFileHandle = {
      stat: async () => toStat(await opened.stat({ bigint: true })),
      read: async (buffer, position) => (await opened.read(buffer, 0, buffer.length, position)).bytesRead,
      close: () => opened.close(),
    };
    return tail;
  },
  async list(dir) {
    try {
      return await readdir(dir);
    } catch (error) {
      if (isMissing(error)) return [];
      throw error;
    }
  },
};

function toStat(s: { dev: bigint; ino: bigint; size: bigint; birthtimeNs: bigint }): TailFileStat {
  const file = { dev: s.dev.toString(), ino: s.ino.toString(), size: Number(s.size) };
  // 0: the file system keeps no birth time.
  return s.birthtimeNs > 0n ? { ...file, born: s.birthtimeNs.toString() } : file;
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
