/** What `blkid -p` found on a device. */
export interface DeviceSignature {
  /** `ext4`, `xfs`, `linux_raid_member`, `gpt` (a partition table), … */
  readonly type: string;
  /** blkid's USAGE: `filesystem`, `raid`, `crypto`, `other`; `partition table` for PTTYPE. */
  readonly usage: string;
}

export interface FilesystemCheck {
  /** clean: no errors; repaired: fixed by the checker; skipped: no checker for this filesystem. */
  readonly status: 'clean' | 'repaired' | 'skipped';
  readonly detail: string;
}

export interface FileOwner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * Port: the filesystem tools on block devices (blkid, mkfs, e2fsck/xfs_repair, mount,
 * resize2fs/xfs_growfs, findmnt). Failures are TaupageErrors FILESYSTEM_FORMAT_FAILED,
 * FILESYSTEM_CHECK_FAILED or MOUNT_FAILED whose message names the device; callers add the key path.
 */
export interface Filesystems {
  /** undefined: no signature at all (a blank device). */
  probe(device: string, signal: AbortSignal): Promise<DeviceSignature | undefined>;
  /** `owner`: the owner of the new root directory, where mkfs can set it (ext*). */
  format(
    device: string,
    filesystem: string,
    owner: FileOwner | undefined,
    signal: AbortSignal,
  ): Promise<void>;
  check(device: string, filesystem: string, signal: AbortSignal): Promise<FilesystemCheck>;
  /** `options`: mount -o, spaces already removed; tmpfs ignores `source`. */
  mount(
    source: string,
    mountPoint: string,
    filesystem: string,
    options: string | undefined,
    signal: AbortSignal,
  ): Promise<void>;
  /**
   * Grows the filesystem to its device: ext* unmounted (after `check`), xfs mounted at
   * `mountPoint`; false: this filesystem cannot be grown by us.
   */
  grow(device: string, mountPoint: string, filesystem: string, signal: AbortSignal): Promise<boolean>;
  /** The source mounted at exactly this path, or undefined when nothing is. */
  mountedSource(mountPoint: string, signal: AbortSignal): Promise<string | undefined>;
}
