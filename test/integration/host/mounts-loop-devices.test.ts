import { stat, statfs, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MountOptions } from '../../../src/config/taupage-config.js';
import { systemClock } from '../../../src/core/clock.js';
import { AwsEc2Volumes } from '../../../src/host/disks/aws-ec2-volumes.js';
import { LinuxFilesystems } from '../../../src/host/disks/linux-filesystems.js';
import { MdadmRaidArrays } from '../../../src/host/disks/mdadm-raid-arrays.js';
import { ERASE_ON_BOOT_TAG } from '../../../src/host/disks/prepare-mounts.js';
import { prepareDisks, type DiskDependencies } from '../../../src/host/disks/prepare-disks.js';
import { Ec2Emulator } from '../../emulators/ec2-emulator.js';
import { LoopFixture, sh } from './disks-loop-fixture.js';

const INSTANCE = {
  instanceId: 'i-0mounts000000001',
  availabilityZone: 'eu-central-1a',
  localIpv4: '10.0.0.5',
  publicIpv4: undefined,
};

let fixture: LoopFixture;
let ec2: Ec2Emulator;

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDDISKSTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'disks-secret';
  ec2 = await Ec2Emulator.start();
  ec2.addInstance(INSTANCE.instanceId, INSTANCE.availabilityZone);
});
afterAll(async () => {
  await ec2.close();
});
afterEach(async () => {
  await fixture.cleanup();
});

function deps(options: { ec2?: boolean } = {}): DiskDependencies {
  return {
    ec2: options.ec2 === true ? new AwsEc2Volumes({ region: ec2.region, endpoint: ec2.url }) : undefined,
    instance: INSTANCE,
    filesystems: new LinuxFilesystems(),
    raid: new MdadmRaidArrays(),
    clock: systemClock,
    log: pino({ level: 'silent' }),
    settings: fixture.settings(),
  };
}

function mount(path: string, entry: Partial<Omit<MountOptions, 'path'>> = {}): MountOptions {
  return {
    path,
    partition: '/dev/xvdf',
    filesystem: 'ext4',
    eraseOnBoot: undefined,
    options: undefined,
    ...entry,
  };
}

const boot = (mounts: MountOptions[], options: { root?: boolean; ec2?: boolean } = {}) =>
  prepareDisks(
    { volumes: { ebs: new Map(), raid: new Map() }, mounts, root: options.root ?? false },
    deps(options),
    new AbortController().signal,
  );

async function mountOptions(path: string): Promise<string> {
  return (await sh('findmnt', '-n', '-o', 'FSTYPE,OPTIONS', '--mountpoint', path)).trim();
}

describe('mounts on real loop devices', () => {
  it('formats a blank device as ext4 owned by the application user and mounts it at /mounts<path> with the options', async () => {
    fixture = await LoopFixture.create('mounts-ext4');
    await fixture.link('xvdf', await fixture.loop('f', 64));
    const report = await boot([mount('/data', { options: 'noatime, nodiratime' })]);
    const hostPath = fixture.hostPath('/data');
    expect(report.mounts).toEqual([
      expect.objectContaining({
        path: '/data',
        hostPath,
        action: 'mounted',
        formatted: 'blank device',
        check: undefined,
      }),
    ]);
    expect(await mountOptions(hostPath)).toMatch(/^ext4\s+\S*noatime,nodiratime/);
    const root = await stat(hostPath);
    expect({ uid: root.uid, gid: root.gid, mode: root.mode & 0o777 }).toEqual({
      uid: 4242,
      gid: 4242,
      mode: 0o777,
    });
  });

  it('formats a blank device as xfs and chowns its root after mounting', async () => {
    fixture = await LoopFixture.create('mounts-xfs');
    await fixture.link('xvdf', await fixture.loop('f', 320));
    const report = await boot([mount('/xfs', { filesystem: 'xfs' })]);
    expect(report.mounts[0]).toMatchObject({ action: 'mounted', formatted: 'blank device' });
    expect(await mountOptions(fixture.hostPath('/xfs'))).toMatch(/^xfs\s/);
    expect((await stat(fixture.hostPath('/xfs'))).uid).toBe(4242);
  });

  it('checks but never reformats an existing filesystem (erase_on_boot: false): the data survives', async () => {
    fixture = await LoopFixture.create('mounts-keep');
    await fixture.link('xvdf', await fixture.loop('f', 64));
    await boot([mount('/data', { eraseOnBoot: false })]);
    await writeFile(join(fixture.hostPath('/data'), 'keep.txt'), 'precious');
    await fixture.unmountAll(); // a reboot
    const report = await boot([mount('/data', { eraseOnBoot: false })]);
    expect(report.mounts[0]).toMatchObject({
      formatted: undefined,
      check: { status: 'clean', detail: 'no errors' },
      grown: true,
    });
    expect(await readFile(join(fixture.hostPath('/data'), 'keep.txt'), 'utf8')).toBe('precious');
  });

  it('erase_on_boot: true reformats on every boot', async () => {
    fixture = await LoopFixture.create('mounts-erase');
    await fixture.link('xvdf', await fixture.loop('f', 64));
    await boot([mount('/scratch', { eraseOnBoot: true })]);
    await writeFile(join(fixture.hostPath('/scratch'), 'old.txt'), 'x');
    await fixture.unmountAll();
    const report = await boot([mount('/scratch', { eraseOnBoot: true })]);
    expect(report.mounts[0]).toMatchObject({ formatted: 'erase_on_boot', check: undefined });
    await expect(stat(join(fixture.hostPath('/scratch'), 'old.txt'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('erase_on_boot absent: formats once when the volume carries the Taupage:erase-on-boot tag, and deletes the tag', async () => {
    fixture = await LoopFixture.create('mounts-tag');
    await fixture.link('xvdf', await fixture.loop('f', 64));
    const volumeId = ec2.addVolume({
      availabilityZone: INSTANCE.availabilityZone,
      name: 'tagged',
      tags: { [ERASE_ON_BOOT_TAG]: 'True' },
    });
    ec2.attachDirectly(volumeId, INSTANCE.instanceId, '/dev/xvdf');
    await sh('mkfs.ext4', '-q', join(fixture.devDir, 'xvdf')); // an old filesystem the tag says to wipe
    const first = await boot([mount('/data')], { ec2: true });
    expect(first.mounts[0]?.formatted).toBe('erase-on-boot tag');
    expect(ec2.volume(volumeId).tags.has(ERASE_ON_BOOT_TAG)).toBe(false);
    await writeFile(join(fixture.hostPath('/data'), 'new.txt'), 'kept');
    await fixture.unmountAll();
    const second = await boot([mount('/data')], { ec2: true });
    expect(second.mounts[0]).toMatchObject({ formatted: undefined, check: { status: 'clean' } });
    expect(await readFile(join(fixture.hostPath('/data'), 'new.txt'), 'utf8')).toBe('kept');
    ec2.detach(volumeId);
  });

  it('grows the filesystem after the device got bigger', async () => {
    fixture = await LoopFixture.create('mounts-grow');
    const device = await fixture.loop('f', 64);
    await fixture.link('xvdf', device);
    await boot([mount('/data')]);
    const before = await statfs(fixture.hostPath('/data'));
    await fixture.unmountAll();
    await fixture.grow('f', device, 160);
    const report = await boot([mount('/data')]);
    const after = await statfs(fixture.hostPath('/data'));
    expect(report.mounts[0]).toMatchObject({ formatted: undefined, grown: true });
    expect(after.blocks * after.bsize).toBeGreaterThan(2 * before.blocks * before.bsize);
  });

  it('checks xfs after an unclean shutdown by replaying its log, keeping the data', async () => {
    fixture = await LoopFixture.create('mounts-xfs-dirty');
    await fixture.link('xvdf', await fixture.loop('f', 320));
    await boot([mount('/xfs', { filesystem: 'xfs' })]);
    await writeFile(join(fixture.hostPath('/xfs'), 'journal.txt'), 'written before the crash');
    await sh('sync');
    await sh('xfs_io', '-x', '-c', 'shutdown -f', fixture.hostPath('/xfs')); // the log stays dirty
    await fixture.unmountAll();
    const report = await boot([mount('/xfs', { filesystem: 'xfs' })]);
    expect(report.mounts[0]).toMatchObject({
      formatted: undefined,
      check: { status: 'clean', detail: 'log replayed, no errors' },
    });
    expect(await readFile(join(fixture.hostPath('/xfs'), 'journal.txt'), 'utf8')).toBe(
      'written before the crash',
    );
  });

  it('refuses a device that holds another filesystem, naming key path and device', async () => {
    fixture = await LoopFixture.create('mounts-mismatch');
    await fixture.link('xvdf', await fixture.loop('f', 320));
    await sh('mkfs.xfs', '-q', join(fixture.devDir, 'xvdf'));
    await expect(boot([mount('/data', { eraseOnBoot: false })])).rejects.toMatchObject({
      code: 'FILESYSTEM_CHECK_FAILED',
      message:
        'mounts./data: device /dev/xvdf holds xfs (filesystem), expected ext4; set erase_on_boot: true to reformat it',
    });
  });

  it('mounts tmpfs with its options, owned by the application user', async () => {
    fixture = await LoopFixture.create('mounts-tmpfs');
    const report = await boot([
      mount('/tmpfs_data', {
        filesystem: 'tmpfs',
        partition: undefined,
        eraseOnBoot: false,
        options: 'size=16m',
      }),
    ]);
    const hostPath = fixture.hostPath('/tmpfs_data');
    expect(report.mounts[0]).toMatchObject({ action: 'mounted', filesystem: 'tmpfs' });
    expect(await mountOptions(hostPath)).toMatch(/^tmpfs\s.*size=16384k/);
    expect((await stat(hostPath)).uid).toBe(4242);
  });

  it('keeps new filesystems root-owned with root: true', async () => {
    fixture = await LoopFixture.create('mounts-root');
    await fixture.link('xvdf', await fixture.loop('f', 64));
    await boot([mount('/data')], { root: true });
    const root = await stat(fixture.hostPath('/data'));
    expect({ uid: root.uid, mode: root.mode & 0o777 }).toEqual({ uid: 0, mode: 0o777 });
  });

  it('is a no-op on a second run while mounted (an agent restart), even with erase_on_boot: true', async () => {
    fixture = await LoopFixture.create('mounts-idem');
    await fixture.link('xvdf', await fixture.loop('f', 64));
    const mounts = [mount('/data', { eraseOnBoot: true }), mount('/bind', { partition: undefined })];
    await boot(mounts);
    await writeFile(join(fixture.hostPath('/data'), 'live.txt'), 'in use');
    const again = await boot(mounts);
    expect(again.mounts.map((entry) => entry.action)).toEqual(['already-mounted', 'directory']);
    expect(await readFile(join(fixture.hostPath('/data'), 'live.txt'), 'utf8')).toBe('in use');
    expect(await fixture.mountsBelow()).toHaveLength(1);
  });

  it('creates only the host directory for a mount without partition', async () => {
    fixture = await LoopFixture.create('mounts-bind');
    const report = await boot([mount('/tmp', { partition: undefined, eraseOnBoot: false })]);
    expect(report.mounts[0]).toMatchObject({ action: 'directory', hostPath: fixture.hostPath('/tmp') });
    expect((await stat(fixture.hostPath('/tmp'))).uid).toBe(4242);
    expect(await fixture.mountsBelow()).toEqual([]);
  });

  it('fails naming key path and device when the device does not appear', async () => {
    fixture = await LoopFixture.create('mounts-missing');
    const settings = {
      ...fixture.settings(),
      timings: { ...fixture.settings().timings, deviceTimeoutMs: 300 },
    };
    await expect(
      prepareDisks(
        {
          volumes: { ebs: new Map(), raid: new Map() },
          mounts: [mount('/data', { partition: '/dev/xvdz' })],
          root: false,
        },
        { ...deps(), settings },
        new AbortController().signal,
      ),
    ).rejects.toMatchObject({
      code: 'DEVICE_NOT_FOUND',
      message: 'mounts./data: device /dev/xvdz did not appear within 0.3 s',
    });
  });

  it('fails naming the key path when mount refuses the options', async () => {
    fixture = await LoopFixture.create('mounts-badopt');
    await fixture.link('xvdf', await fixture.loop('f', 64));
    await expect(boot([mount('/data', { options: 'no_such_option_xyz' })])).rejects.toMatchObject({
      code: 'MOUNT_FAILED',
      message: expect.stringMatching(
        /^mounts\.\/data: mount of .*xvdf on .*\/mounts\/data failed: /,
      ) as unknown,
    });
  });
});

// volumes.raid (mdadm) needs the kernel's md driver, which the host kernel here does not have:
// test/vm/instance.test.ts (scenario d) builds a RAID1 of two virtio disks on the AMI's own kernel
// with the agent, mounts it, and assembles it again with its data after a reboot.
