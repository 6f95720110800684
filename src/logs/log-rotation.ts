import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { LogrotateInterval, TaupageConfig } from '../config/taupage-config.js';

/**
 * logrotate's knobs for one file, as `application_logrotate_*` set them in the original's
 * /etc/logrotate.d/application — but typed and validated by the config schema, never pasted
 * into a config file (the original sed'ed the raw strings into it).
 */
export interface RotationPolicy {
  /** Rotate once the file has reached this many bytes (`size`). */
  readonly sizeBytes: number;
  /** Rotate when the file was started in an earlier period than now (`hourly` … `yearly`). */
  readonly interval: LogrotateInterval;
  /** Rotated files kept (`rotate N`; 0: the old file is deleted). */
  readonly keep: number;
  /** gzip rotated files (`compress`), one rotation late (`delaycompress`). */
  readonly compress: boolean;
  readonly delayCompress: boolean;
}

/** The start of `time`'s period (UTC, weeks from Sunday as logrotate counts them). */
export function periodStart(time: number, interval: LogrotateInterval): number {
  const date = new Date(time);
  switch (interval) {
    case 'hourly':
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours());
    case 'daily':
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
    case 'weekly':
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() - date.getUTCDay());
    case 'monthly':
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
    case 'yearly':
      return Date.UTC(date.getUTCFullYear(), 0, 1);
  }
}

/** Whether a file of `size` bytes started at `startedAt` is due at `now`. Empty files never are (`notifempty`). */
export function rotationDue(policy: RotationPolicy, size: number, startedAt: number, now: number): boolean {
  if (size === 0) return false;
  return (
    size >= policy.sizeBytes || periodStart(startedAt, policy.interval) < periodStart(now, policy.interval)
  );
}

/**
 * Rotates `path` as logrotate does with `rotate N`, `compress`, `delaycompress`: path.N(.gz)
 * is deleted, each path.i(.gz) becomes path.(i+1), path becomes path.1, and the file one
 * rotation older than that is gzipped. The caller opens a new `path` afterwards.
 */
export async function rotateFile(path: string, policy: RotationPolicy): Promise<void> {
  if (policy.keep === 0) {
    await rm(path, { force: true });
    return;
  }
  for (const suffix of ['', '.gz']) await rm(`${path}.${policy.keep}${suffix}`, { force: true });
  for (let index = policy.keep - 1; index >= 1; index--) {
    for (const suffix of ['', '.gz']) {
      await rename(`${path}.${index}${suffix}`, `${path}.${index + 1}${suffix}`).catch(ignoreMissing);
    }
  }
  await rename(path, `${path}.1`);
  if (!policy.compress) return;
  const due = policy.delayCompress ? 2 : 1;
  if (due > policy.keep) return;
  const plain = `${path}.${due}`;
  if ((await stat(plain).catch(() => undefined)) === undefined) return;
  await pipeline(createReadStream(plain), createGzip(), createWriteStream(`${plain}.gz`, { mode: 0o640 }));
  await rm(plain);
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}

/** The original's defaults for /var/log/application.log: 256M, weekly, rotate 4, compress, delaycompress. */
const DEFAULT_SIZE = 256 * 1024 ** 2;
const DEFAULT_INTERVAL: LogrotateInterval = 'weekly';

/**
 * `application_logrotate_*`, with the 2015 spellings `_filesize`/`_period` read when the current
 * key is not set (left at its default). `copytruncate` does not apply: the agent is the writer
 * and reopens the file itself.
 */
export function applicationLogRotation(config: TaupageConfig): RotationPolicy {
  return {
    sizeBytes:
      config.applicationLogrotateSize === DEFAULT_SIZE
        ? (config.applicationLogrotateFilesize ?? DEFAULT_SIZE)
        : config.applicationLogrotateSize,
    interval:
      config.applicationLogrotateInterval === DEFAULT_INTERVAL
        ? (config.applicationLogrotatePeriod ?? DEFAULT_INTERVAL)
        : config.applicationLogrotateInterval,
    keep: config.applicationLogrotateRotate,
    compress: !config.applicationLogrotateDisableCompress,
    delayCompress: !config.applicationLogrotateDisableDelaycompress,
  };
}
