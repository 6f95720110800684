import type { Clock } from '../../core/clock.js';
import { isTaupageError, TaupageError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { retry } from '../../core/retry.js';
import type { DiskSettings } from './disk-settings.js';
import type { Ec2Volumes } from './ec2-volumes.js';
import type { Filesystems } from './filesystems.js';
import type { RaidArrays } from './raid-arrays.js';

/** The instance facts the disk step needs (from IMDS). */
export interface DiskInstance {
  readonly instanceId: string;
  readonly availabilityZone: string;
  readonly localIpv4: string | undefined;
  readonly publicIpv4: string | undefined;
}

export interface DiskDependencies {
  /** undefined off EC2 (local mode): `volumes.ebs` is skipped, erase-on-boot tags are not read. */
  readonly ec2: Ec2Volumes | undefined;
  readonly instance: DiskInstance;
  readonly filesystems: Filesystems;
  readonly raid: RaidArrays;
  readonly clock: Clock;
  readonly log: Logger;
  readonly settings: DiskSettings;
}

/** Everything a sub-step needs, plus what earlier sub-steps learnt. */
export interface DiskContext extends DiskDependencies {
  readonly signal: AbortSignal;
  /** `root: true`: new filesystems and mount points stay root's. */
  readonly root: boolean;
  /** Config device → EBS volume id, from `volumes.ebs` (for NVMe lookups in `mounts`). */
  readonly volumeIds: Map<string, string>;
}

/** One EC2 call with the throttling retry policy; other errors go straight through. */
export function callEc2<T>(context: DiskContext, what: string, call: () => Promise<T>): Promise<T> {
  return retry(call, context.settings.timings.ec2Retry, {
    clock: context.clock,
    signal: context.signal,
    isRetriable: (error) => isTaupageError(error) && error.code === 'VOLUME_API_UNAVAILABLE',
    onRetry: (error, attempt, delayMs) => {
      context.log.warn({ err: error, attempt, delayMs }, `EC2 ${what} was throttled or failed; retrying`);
    },
  });
}

/** Prefixes a TaupageError's message with the config key path (`mounts./data: …`). */
export function atKey(keyPath: string, error: unknown): unknown {
  if (!isTaupageError(error) || error.message.startsWith(keyPath)) return error;
  return new TaupageError(error.code, `${keyPath}: ${error.message}`, {
    cause: error,
    retriable: error.retriable,
  });
}

export const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;
