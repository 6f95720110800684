import { mkdir, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaupageConfig } from '../../../src/config/taupage-config.js';
import type { Clock } from '../../../src/core/clock.js';
import { TaupageError } from '../../../src/core/errors.js';
import { DEFAULT_DISK_TIMINGS, type DiskSettings } from '../../../src/host/disks/disk-settings.js';
import type { Filesystems } from '../../../src/host/disks/filesystems.js';
import { prepareDisks, type DiskDependencies } from '../../../src/host/disks/prepare-disks.js';
import { FakeEc2Volumes } from '../../fakes/fake-ec2-volumes.js';
import { FakeRaidArrays } from '../../fakes/fake-raid-arrays.js';

class FakeClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(public t = 1_000_000) {}
  now() {
    return this.t;
  }
  sleep(ms: number) {
    this.sleeps.push(ms);
    this.t += ms;
    return Promise.resolve();
  }
}

const noFilesystems: Filesystems = {
  probe: () => Promise.reject(new Error('not used')),
  format: () => Promise.reject(new Error('not used')),
  check: () => Promise.reject(new Error('not used')),
  mount: () => Promise.reject(new Error('not used')),
  grow: () => Promise.reject(new Error('not used')),
  mountedSource: () => Promise.reject(new Error('not used')),
};

const INSTANCE = {
  instanceId: 'i-0abc',
  availabilityZone: 'eu-central-1a',
  localIpv4: '10.0.1.17',
  publicIpv4: undefined,
};
const throttled = () =>
  new TaupageError(
    'VOLUME_API_UNAVAILABLE',
    'EC2 DescribeVolumes failed (RequestLimitExceeded: Request limit exceeded.)',
  );

let dir: string;
let clock: FakeClock;
let ec2: FakeEc2Volumes;
let deps: DiskDependencies;

function config(ebs: Record<string, string | undefined>): Pick<TaupageConfig, 'volumes' | 'mounts' | 'root'> {
  return { volumes: { ebs: new Map(Object.entries(ebs)), raid: new Map() }, mounts: [], root: false };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-volumes-unit-'));
  await mkdir(join(dir, 'dev'));
  await mkdir(join(dir, 'sys', 'block'), { recursive: true });
  clock = new FakeClock();
  ec2 = new FakeEc2Volumes();
  const settings: DiskSettings = {
    devDir: join(dir, 'dev'),
    sysBlockDir: join(dir, 'sys', 'block'),
    byIdDir: join(dir, 'dev', 'disk', 'by-id'),
    mountRoot: join(dir, 'mounts'),
    applicationOwner: { uid: 999, gid: 999 },
    timings: DEFAULT_DISK_TIMINGS,
  };
  deps = {
    ec2,
    instance: INSTANCE,
    filesystems: noFilesystems,
    raid: new FakeRaidArrays(),
    clock,
    log: pino({ level: 'silent' }),
    settings,
  };
  // The kernel's side of an attachment: a device node appears (a plain file opens just the same).
  ec2.onAttach = (_volumeId, device) => writeFile(join(dir, 'dev', device.slice('/dev/'.length)), '');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('volumes.ebs', () => {
  it('searches by the expanded Name in the zone, attaches, and waits for the device', async () => {
    ec2.add('vol-0000000000000000b', 'db-10.0.1.17');
    ec2.add('vol-0000000000000000c', 'db-10.0.1.17', 'eu-central-1b');
    const report = await prepareDisks(
      config({ '/dev/xvdf': 'db-${local_ipv4}' }),
      deps,
      new AbortController().signal,
    );
    expect(report.volumes).toEqual([
      expect.objectContaining({
        device: '/dev/xvdf',
        name: 'db-10.0.1.17',
        volumeId: 'vol-0000000000000000b',
        action: 'attached',
        resolvedDevice: join(dir, 'dev', 'xvdf'),
      }),
    ]);
    expect(ec2.calls).toEqual(['findAttached', 'findAvailable', 'attach', 'describe']);
  });

  it('makes no EC2 call when the device (or its sd/xvd twin) is there already', async () => {
    await writeFile(join(dir, 'dev', 'xvdf'), '');
    const report = await prepareDisks(config({ '/dev/sdf': 'data' }), deps, new AbortController().signal);
    expect(report.volumes[0]?.action).toBe('present');
    expect(ec2.calls).toEqual([]);
  });

  it('takes the lowest volume id when several match', async () => {
    ec2.add('vol-0000000000000000f', 'data');
    ec2.add('vol-0000000000000000a', 'data');
    const report = await prepareDisks(config({ '/dev/xvdf': 'data' }), deps, new AbortController().signal);
    expect(report.volumes[0]?.volumeId).toBe('vol-0000000000000000a');
  });

  it('retries RequestLimitExceeded with growing back-off on the injected clock', async () => {
    ec2.add('vol-0000000000000000a', 'data');
    ec2.failNext(throttled(), throttled(), throttled());
    const report = await prepareDisks(
      config({ '/dev/xvdf': 'data' }),
      {
        ...deps,
        settings: {
          ...deps.settings,
          timings: { ...DEFAULT_DISK_TIMINGS, ec2Retry: { ...DEFAULT_DISK_TIMINGS.ec2Retry, jitter: false } },
        },
      },
      new AbortController().signal,
    );
    expect(report.volumes[0]?.action).toBe('attached');
    expect(clock.sleeps).toEqual([1_000, 2_000, 4_000]);
  });

  it('gives up with VOLUME_API_UNAVAILABLE when throttling outlasts the retry budget', async () => {
    ec2.add('vol-0000000000000000a', 'data');
    ec2.failNext(...Array.from({ length: 20 }, throttled));
    await expect(
      prepareDisks(config({ '/dev/xvdf': 'data' }), deps, new AbortController().signal),
    ).rejects.toMatchObject({
      code: 'VOLUME_API_UNAVAILABLE',
      message: expect.stringMatching(
        /^volumes\.ebs\.\/dev\/xvdf: EC2 DescribeVolumes failed \(RequestLimitExceeded/,
      ) as unknown,
    });
  });

  it('searches again (the original: 10 × 120 s) while no volume is available, then fails naming the key', async () => {
    await expect(
      prepareDisks(config({ '/dev/xvdf': 'missing' }), deps, new AbortController().signal),
    ).rejects.toMatchObject({
      code: 'VOLUME_NOT_FOUND',
      message:
        'volumes.ebs./dev/xvdf: no available EBS volume named "missing" in eu-central-1a after 10 searches over 1080 s',
    });
    expect(clock.sleeps).toEqual(Array.from({ length: 9 }, () => 120_000));
  });

  it('finds a volume that becomes available on a later search (the old instance detached it)', async () => {
    let searches = 0;
    const original = ec2.findAvailable.bind(ec2);
    ec2.findAvailable = (name, zone) => {
      if (++searches === 3) ec2.add('vol-0000000000000000d', 'data');
      return original(name, zone);
    };
    const report = await prepareDisks(config({ '/dev/xvdf': 'data' }), deps, new AbortController().signal);
    expect(report.volumes[0]?.volumeId).toBe('vol-0000000000000000d');
    expect(clock.sleeps).toEqual([120_000, 120_000]);
  });

  it('waits for the attachment to reach "attached"', async () => {
    ec2.add('vol-0000000000000000a', 'data');
    ec2.attachStates = ['attaching', 'attaching', 'attached'];
    await prepareDisks(config({ '/dev/xvdf': 'data' }), deps, new AbortController().signal);
    expect(ec2.calls.filter((call) => call === 'describe')).toHaveLength(3);
  });

  it('finds an NVMe namespace by its serial (the volume id without dash) and links the config name to it', async () => {
    ec2.add('vol-0123456789abcdef0', 'data');
    ec2.onAttach = async () => {
      await mkdir(join(dir, 'sys', 'block', 'nvme1n1', 'device'), { recursive: true });
      await writeFile(
        join(dir, 'sys', 'block', 'nvme1n1', 'device', 'serial'),
        'vol0123456789abcdef0        \n',
      );
      await writeFile(join(dir, 'dev', 'nvme1n1'), '');
    };
    const report = await prepareDisks(config({ '/dev/xvdf': 'data' }), deps, new AbortController().signal);
    expect(report.volumes[0]?.resolvedDevice).toBe(join(dir, 'dev', 'nvme1n1'));
    expect(await readlink(join(dir, 'dev', 'xvdf'))).toBe(join(dir, 'dev', 'nvme1n1'));
  });

  it('re-uses the volume already attached to this instance after a reboot (no AttachVolume)', async () => {
    ec2.add('vol-0123456789abcdef0', 'data');
    await ec2.attach('vol-0123456789abcdef0', INSTANCE.instanceId, '/dev/xvdf');
    await rm(join(dir, 'dev', 'xvdf'));
    await mkdir(join(dir, 'dev', 'disk', 'by-id'), { recursive: true });
    await writeFile(join(dir, 'dev', 'nvme2n1'), '');
    const { symlink } = await import('node:fs/promises');
    await symlink(
      join(dir, 'dev', 'nvme2n1'),
      join(dir, 'dev', 'disk', 'by-id', 'nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0'),
    );
    ec2.calls.length = 0;
    const report = await prepareDisks(config({ '/dev/xvdf': 'data' }), deps, new AbortController().signal);
    expect(report.volumes[0]).toMatchObject({
      action: 'already-attached',
      resolvedDevice: join(dir, 'dev', 'nvme2n1'),
    });
    expect(ec2.calls).toEqual(['findAttached', 'describe']);
  });

  it('fails naming key path and device when the device never appears', async () => {
    ec2.add('vol-0000000000000000a', 'data');
    ec2.onAttach = undefined;
    await expect(
      prepareDisks(config({ '/dev/xvdf': 'data' }), deps, new AbortController().signal),
    ).rejects.toMatchObject({
      code: 'DEVICE_NOT_FOUND',
      message: 'volumes.ebs./dev/xvdf: device /dev/xvdf (vol-0000000000000000a) did not appear within 60 s',
    });
  });

  it('refuses ${public_ipv4} on an instance without a public address', async () => {
    await expect(
      prepareDisks(config({ '/dev/xvdf': 'n-${public_ipv4}' }), deps, new AbortController().signal),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/^volumes\.ebs\.\/dev\/xvdf: .*no public IPv4 address$/) as unknown,
    });
    expect(ec2.calls).toEqual([]);
  });

  it('skips volumes off EC2 (local mode) and nameless entries', async () => {
    const report = await prepareDisks(
      config({ '/dev/xvdf': 'data', '/dev/xvdg': undefined }),
      { ...deps, ec2: undefined },
      new AbortController().signal,
    );
    expect(report.volumes.map((volume) => volume.action)).toEqual(['skipped', 'skipped']);
  });
});
