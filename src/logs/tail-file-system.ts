/** Identity and size of a file; `dev`/`ino` as decimal strings (inodes can exceed 2^53). */
export interface TailFileStat {
  readonly dev: string;
  readonly ino: string;
  readonly size: number;
  /**
   * Birth time in ns, when the file system reports it (statx on Linux): with dev and ino it names
   * a file even after its inode number was freed and reused.
   */
  readonly born?: string;
}

export interface TailFileHandle {
  stat(): Promise<TailFileStat>;
  /** Reads into `buffer` from `position`; returns the bytes read (0 at end of file). */
  read(buffer: Buffer, position: number): Promise<number>;
  close(): Promise<void>;
}

/** Port: the few file-system calls a tail needs (a fake one tests rotation without a disk). */
export interface TailFileSystem {
  /** undefined when the path does not exist. */
  stat(path: string): Promise<TailFileStat | undefined>;
  /** undefined when the path does not exist (any more). */
  open(path: string): Promise<TailFileHandle | undefined>;
  /** Names in a directory; [] when it does not exist. */
  list(dir: string): Promise<string[]>;
}
