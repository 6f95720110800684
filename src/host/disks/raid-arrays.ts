/**
 * Port: Linux software RAID (mdadm). Failures are TaupageErrors RAID_FAILED naming the device;
 * `create` marks a "Device or resource busy" failure retriable (a just-attached member that
 * udev still holds).
 */
export interface RaidArrays {
  /** false when the kernel has no md driver (no /proc/mdstat): nothing else here can work. */
  driverAvailable(): Promise<boolean>;
  /** The array is running (mdadm --detail succeeds). */
  isActive(device: string, signal: AbortSignal): Promise<boolean>;
  /** The member carries an md superblock, i.e. belonged to an array before (mdadm --examine). */
  hasSuperblock(member: string, signal: AbortSignal): Promise<boolean>;
  assemble(device: string, members: readonly string[], signal: AbortSignal): Promise<void>;
  create(device: string, level: number, members: readonly string[], signal: AbortSignal): Promise<void>;
}
