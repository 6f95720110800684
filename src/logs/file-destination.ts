import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { firstLine, TaupageError } from '../core/errors.js';
import type { DeliveryResult, LogDestination } from './log-destination.js';
import type { RecordBatch } from './spool-records.js';

/** One source's route: the file (relative to the directory) its lines are appended to. */
export interface FileRoute {
  readonly file: string;
  readonly exclude?: RegExp | undefined;
}

export interface FileDestinationOptions {
  /** Cursor name in the spool; default "file". */
  readonly name?: string;
  readonly dir: string;
  readonly routes: Readonly<Record<string, FileRoute>>;
}

/**
 * A LogDestination that appends lines to local files (local mode, the demo, and a
 * `/var/log/application.log` for tools that expect it). A delivery is acknowledged once the
 * lines are fsync'd.
 */
export class FileDestination implements LogDestination {
  readonly name: string;
  readonly #options: FileDestinationOptions;
  readonly #handles = new Map<string, FileHandle>();

  constructor(options: FileDestinationOptions) {
    this.name = options.name ?? 'file';
    this.#options = options;
    for (const route of Object.values(options.routes)) {
      if (isAbsolute(route.file) || route.file.split('/').includes('..'))
        throw new Error(`file route "${route.file}" must stay inside ${options.dir}`);
    }
  }

  async deliver(batch: RecordBatch): Promise<DeliveryResult> {
    const byFile = new Map<string, string[]>();
    for (const record of batch.records) {
      const route = this.#options.routes[record.source];
      if (route === undefined || route.exclude?.test(record.message) === true) continue;
      let lines = byFile.get(route.file);
      if (lines === undefined) byFile.set(route.file, (lines = []));
      lines.push(`${record.message}\n`);
    }
    for (const [file, lines] of byFile) {
      const path = join(this.#options.dir, file);
      try {
        const handle = await this.#handle(path);
        await handle.appendFile(lines.join(''), 'utf8');
        await handle.datasync();
      } catch (error) {
        // A handle that failed (disk full, file removed) is reopened on the next attempt.
        await this.#handles
          .get(path)
          ?.close()
          .catch(() => undefined);
        this.#handles.delete(path);
        throw new TaupageError(
          'LOG_SHIP_FAILED',
          `log file ${path}: ${error instanceof Error ? firstLine(error.message) : String(error)}`,
          { cause: error, retriable: true },
        );
      }
    }
    return { rejected: 0 };
  }

  async close(): Promise<void> {
    const handles = [...this.#handles.values()];
    this.#handles.clear();
    await Promise.allSettled(handles.map((handle) => handle.close()));
  }

  /** The open file at `path`; reopened when logrotate renamed or removed it. */
  async #handle(path: string): Promise<FileHandle> {
    let handle = this.#handles.get(path);
    if (handle !== undefined) {
      const [open, current] = await Promise.all([handle.stat(), stat(path).catch(() => undefined)]);
      if (current === undefined || current.ino !== open.ino || current.dev !== open.dev) {
        await handle.close();
        this.#handles.delete(path);
        handle = undefined;
      }
    }
    if (handle === undefined) {
      await mkdir(dirname(path), { recursive: true });
      handle = await open(path, 'a', 0o640);
      this.#handles.set(path, handle);
    }
    return handle;
  }
}
