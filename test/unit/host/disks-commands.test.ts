import { describe, expect, it } from 'vitest';
import {
  hostDevicePath,
  isEbsDeviceName,
  nvmeSerial,
  twinDevice,
} from '../../../src/host/disks/block-devices.js';
import {
  checkCommand,
  e2fsckOutcome,
  formatCommand,
  growCommand,
  mountCommand,
  mountedSourceCommand,
  normaliseMountOptions,
  parseProbe,
  probeCommand,
  sameFilesystemFamily,
} from '../../../src/host/disks/filesystem-commands.js';
import {
  mdadmAssemble,
  mdadmCreate,
  mdadmDetail,
  mdadmExamine,
} from '../../../src/host/disks/mdadm-commands.js';
import { expandVolumeName } from '../../../src/host/disks/volume-names.js';

describe('filesystem commands (argv arrays, never a shell string)', () => {
  it('formats ext4 without discard, the root owned by the application user unless root', () => {
    expect(formatCommand('/dev/xvdf', 'ext4', { uid: 999, gid: 999 })).toEqual({
      file: 'mkfs.ext4',
      args: ['-q', '-F', '-E', 'nodiscard,root_owner=999:999', '/dev/xvdf'],
    });
    expect(formatCommand('/dev/xvdf', 'ext3', undefined).args).toEqual([
      '-q',
      '-F',
      '-E',
      'nodiscard',
      '/dev/xvdf',
    ]);
  });

  it('formats xfs and btrfs forced and without discard', () => {
    expect(formatCommand('/dev/xvdg', 'xfs', { uid: 1, gid: 1 })).toEqual({
      file: 'mkfs.xfs',
      args: ['-q', '-f', '-K', '/dev/xvdg'],
    });
    expect(formatCommand('/dev/xvdg', 'btrfs', undefined).file).toBe('mkfs.btrfs');
    expect(() => formatCommand('/dev/xvdg', 'tmpfs', undefined)).toThrow(/cannot format tmpfs/);
  });

  it('checks ext* with e2fsck -f -p and xfs read-only with xfs_repair -n; others have no check', () => {
    expect(checkCommand('/dev/xvdf', 'ext4')).toEqual({ file: 'e2fsck', args: ['-f', '-p', '/dev/xvdf'] });
    expect(checkCommand('/dev/xvdf', 'xfs')).toEqual({ file: 'xfs_repair', args: ['-n', '/dev/xvdf'] });
    expect(checkCommand('/dev/xvdf', 'btrfs')).toBeUndefined();
  });

  it("reads e2fsck's exit bit mask: 0 and 1 are fine, everything else stops the boot", () => {
    expect(e2fsckOutcome(0)).toEqual({ ok: true, detail: 'no errors' });
    expect(e2fsckOutcome(1)).toEqual({ ok: true, detail: 'errors corrected' });
    expect(e2fsckOutcome(2).ok).toBe(false);
    expect(e2fsckOutcome(4).detail).toMatch(/uncorrected/);
    expect(e2fsckOutcome(8).detail).toMatch(/operational error/);
    expect(e2fsckOutcome(12).detail).toMatch(/uncorrected/);
  });

  it('mounts with -t and -o, tmpfs with the source "tmpfs", options without spaces', () => {
    expect(mountCommand('/dev/xvdf', '/mounts/data', 'ext4', 'noatime,nodiratime')).toEqual({
      file: 'mount',
      args: ['-t', 'ext4', '-o', 'noatime,nodiratime', '/dev/xvdf', '/mounts/data'],
    });
    expect(mountCommand('ignored', '/mounts/tmp', 'tmpfs', undefined).args).toEqual([
      '-t',
      'tmpfs',
      'tmpfs',
      '/mounts/tmp',
    ]);
    expect(normaliseMountOptions(' noatime, size=512m ')).toBe('noatime,size=512m');
    expect(normaliseMountOptions('  ')).toBeUndefined();
  });

  it('grows ext* by device and xfs by mount point with -d', () => {
    expect(growCommand('/dev/xvdf', '/mounts/d', 'ext4')).toEqual({ file: 'resize2fs', args: ['/dev/xvdf'] });
    expect(growCommand('/dev/xvdf', '/mounts/d', 'xfs')).toEqual({
      file: 'xfs_growfs',
      args: ['-d', '/mounts/d'],
    });
    expect(growCommand('/dev/xvdf', '/mounts/d', 'btrfs')).toBeUndefined();
  });

  it('probes with blkid -p and parses its export format', () => {
    expect(probeCommand('/dev/xvdf').args).toEqual(['-p', '-o', 'export', '/dev/xvdf']);
    expect(parseProbe('DEVNAME=/dev/loop0\nUUID=x\nTYPE=ext4\nUSAGE=filesystem\n')).toEqual({
      type: 'ext4',
      usage: 'filesystem',
    });
    expect(parseProbe('DEVNAME=/dev/loop0\nPTUUID=x\nPTTYPE=gpt\n')).toEqual({
      type: 'gpt',
      usage: 'partition table',
    });
    expect(parseProbe('')).toBeUndefined();
    expect(mountedSourceCommand('/mounts/x').args).toEqual([
      '-n',
      '-o',
      'SOURCE',
      '--mountpoint',
      '/mounts/x',
    ]);
  });

  it('treats ext2/3/4 as one family and everything else by name', () => {
    expect(sameFilesystemFamily('ext3', 'ext4')).toBe(true);
    expect(sameFilesystemFamily('xfs', 'ext4')).toBe(false);
    expect(sameFilesystemFamily('xfs', 'xfs')).toBe(true);
  });
});

describe('mdadm commands', () => {
  it('builds the create argv of the original (level, device count, members in order)', () => {
    expect(mdadmCreate('/dev/md/data', 0, ['/dev/xvdf', '/dev/xvdg'])).toEqual({
      file: 'mdadm',
      args: ['--create', '/dev/md/data', '--run', '--level=0', '--raid-devices=2', '/dev/xvdf', '/dev/xvdg'],
    });
    expect(mdadmCreate('/dev/md/r10', 10, ['/dev/a', '/dev/b', '/dev/c', '/dev/d']).args).toContain(
      '--raid-devices=4',
    );
  });

  it('builds detail, examine and assemble argv', () => {
    expect(mdadmDetail('/dev/md/x').args).toEqual(['--detail', '/dev/md/x']);
    expect(mdadmExamine('/dev/xvdf').args).toEqual(['--examine', '/dev/xvdf']);
    expect(mdadmAssemble('/dev/md/x', ['/dev/xvdf', '/dev/xvdg']).args).toEqual([
      '--assemble',
      '/dev/md/x',
      '/dev/xvdf',
      '/dev/xvdg',
    ]);
  });
});

describe('device names', () => {
  it('maps sd ↔ xvd twins and leaves other names alone', () => {
    expect(twinDevice('/dev/sdf')).toBe('/dev/xvdf');
    expect(twinDevice('/dev/xvdba')).toBe('/dev/sdba');
    expect(twinDevice('/dev/nvme1n1')).toBeUndefined();
    expect(twinDevice('/dev/md/raid0')).toBeUndefined();
  });

  it('re-roots /dev paths under the device directory', () => {
    expect(hostDevicePath('/dev/xvdf', '/dev')).toBe('/dev/xvdf');
    expect(hostDevicePath('/dev/md/raid0', '/tmp/dev')).toBe('/tmp/dev/md/raid0');
  });

  it('knows EBS attachment names and the NVMe serial of a volume id', () => {
    expect(isEbsDeviceName('/dev/xvdf')).toBe(true);
    expect(isEbsDeviceName('/dev/md/raid0')).toBe(false);
    expect(nvmeSerial('vol-0123456789abcdef0')).toBe('vol0123456789abcdef0');
  });
});

describe('expandVolumeName', () => {
  const ips = { localIpv4: '10.0.1.17', publicIpv4: '3.120.0.9' };

  it('substitutes ${local_ipv4} and ${public_ipv4}, every occurrence', () => {
    expect(expandVolumeName('cassandra-${local_ipv4}', ips)).toEqual({ name: 'cassandra-10.0.1.17' });
    expect(expandVolumeName('${public_ipv4}/${local_ipv4}/${public_ipv4}', ips)).toEqual({
      name: '3.120.0.9/10.0.1.17/3.120.0.9',
    });
  });

  it('keeps other text and unknown variables literally', () => {
    expect(expandVolumeName('data-${hostname}-$local_ipv4', ips)).toEqual({
      name: 'data-${hostname}-$local_ipv4',
    });
  });

  it('refuses a variable the instance has no value for', () => {
    expect(expandVolumeName('node-${public_ipv4}', { localIpv4: '10.0.0.1', publicIpv4: undefined })).toEqual(
      {
        error:
          'the name "node-${public_ipv4}" uses ${public_ipv4}, but the instance has no public IPv4 address',
      },
    );
  });
});
