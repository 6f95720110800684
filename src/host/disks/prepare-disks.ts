import type { TaupageConfig } from '../../config/taupage-config.js';
import { attachVolumes, type VolumeReport } from './attach-volumes.js';
import { assembleRaids, type RaidReport } from './assemble-raid.js';
import type { DiskDependencies } from './disk-context.js';
import { prepareMounts, type MountReport } from './prepare-mounts.js';

export type { DiskDependencies, DiskInstance } from './disk-context.js';
export type { VolumeReport } from './attach-volumes.js';
export type { RaidReport } from './assemble-raid.js';
export type { MountReport } from './prepare-mounts.js';

/** What the disk step did, for the boot timeline and /status. */
export interface DiskReport {
  readonly volumes: readonly VolumeReport[];
  readonly raids: readonly RaidReport[];
  readonly mounts: readonly MountReport[];
  readonly durationMs: number;
}

export type DiskConfig = Pick<TaupageConfig, 'volumes' | 'mounts' | 'root'>;

/**
 * The original's init.d/10-prepare-disks.py, in its order: attach `volumes.ebs`, build
 * `volumes.raid`, then format/check/mount/grow each of `mounts` at `/mounts<path>`. Safe to run
 * on every boot and again after an agent restart: present devices, running arrays and existing
 * mounts are left alone. Errors are TaupageErrors whose message starts with the key path.
 */
export async function prepareDisks(
  config: DiskConfig,
  deps: DiskDependencies,
  signal: AbortSignal,
): Promise<DiskReport> {
  const started = deps.clock.now();
  const context = {
    ...deps,
    log: deps.log.child({ component: 'disks' }),
    signal,
    root: config.root,
    volumeIds: new Map<string, string>(),
  };
  const volumes = await attachVolumes(config.volumes.ebs, context);
  const raids = await assembleRaids(config.volumes.raid, context);
  const mounts = await prepareMounts(config.mounts, context);
  return { volumes, raids, mounts, durationMs: deps.clock.now() - started };
}

/** One line for the boot timeline: `attached 1 volume, mounted 2 (formatted 1)`. */
export function describeDiskReport(report: DiskReport): string {
  const parts: string[] = [];
  const attached = report.volumes.filter((volume) => volume.action === 'attached').length;
  if (attached > 0) parts.push(`attached ${attached} volume${attached === 1 ? '' : 's'}`);
  const built = report.raids.filter((raid) => raid.action !== 'present').length;
  if (built > 0) parts.push(`built ${built} RAID array${built === 1 ? '' : 's'}`);
  const mounted = report.mounts.filter((mount) => mount.action === 'mounted');
  if (mounted.length > 0) {
    const formatted = mounted.filter((mount) => mount.formatted !== undefined).length;
    parts.push(`mounted ${mounted.length}${formatted > 0 ? ` (formatted ${formatted})` : ''}`);
  }
  const kept = report.mounts.filter((mount) => mount.action === 'already-mounted').length;
  if (kept > 0) parts.push(`${kept} already mounted`);
  return parts.length === 0 ? 'nothing to do' : parts.join(', ');
}
