import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RaidArray } from '../../../src/config/taupage-config.js';
import type { Clock } from '../../../src/core/clock.js';
import { DEFAULT_DISK_TIMINGS } from '../../../src/host/disks/disk-settings.js';
import type { Filesystems } from '../../../src/host/disks/filesystems.js';
import { prepareDisks, type DiskDependencies } from '../../../src/host/disks/prepare-disks.js';
import { FakeRaidArrays } from '../../fakes/fake-raid-arrays.js';

const clock: Clock & { sleeps: number[]; t: number } = {
  sleeps: [],
  t: 0,
  now() {
    return this.t;
  },
  sleep(ms) {
    this.sleeps.push(ms);
    this.t += ms;
    return Promise.resolve();
  },
};
const noFilesystems = {} as Filesystems;

let dir: string;
let raid: FakeRaidArrays;
let deps: DiskDependencies;
const dev = (name: string) => join(dir, 'dev', name);
const run = (arrays: Record<string, RaidArray>) =>
  prepareDisks(
    { volumes: { ebs: new Map(), raid: new Map(Object.entries(arrays)) }, mounts: [], root: false },
    deps,
    new AbortController().signal,
  );

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-raid-unit-'));
  await mkdir(join(dir, 'dev'));
  await writeFile(dev('xvdf'), '');
  await writeFile(dev('xvdg'), '');
  clock.sleeps = [];
  raid = new FakeRaidArrays();
  deps = {
    ec2: undefined,
    instance: {
      instanceId: 'i-1',
      availabilityZone: 'eu-central-1a',
      localIpv4: undefined,
      publicIpv4: undefined,
    },
    filesystems: noFilesystems,
    raid,
    clock,
    log: pino({ level: 'silent' }),
    settings: {
      devDir: join(dir, 'dev'),
      sysBlockDir: join(dir, 'sys'),
      byIdDir: join(dir, 'by-id'),
      mountRoot: join(dir, 'mounts'),
      applicationOwner: { uid: 999, gid: 999 },
      timings: { ...DEFAULT_DISK_TIMINGS, deviceTimeoutMs: 1_000, devicePollMs: 100 },
    },
  };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('volumes.raid', () => {
  const array = { level: 0, devices: ['/dev/xvdf', '/dev/xvdg'] };

  it('creates an array from blank members', async () => {
    const report = await run({ '/dev/md/data': array });
    expect(report.raids).toEqual([
      expect.objectContaining({ device: '/dev/md/data', level: 0, action: 'created' }),
    ]);
    expect(raid.calls).toEqual([`create ${dev('md/data')} level 0 ${dev('xvdf')} ${dev('xvdg')}`]);
  });

  it('assembles (never re-creates) when members carry md superblocks, e.g. after a reboot', async () => {
    raid.superblocks.add(dev('xvdg'));
    const report = await run({ '/dev/md/data': array });
    expect(report.raids[0]?.action).toBe('assembled');
    expect(raid.calls).toEqual([`assemble ${dev('md/data')} ${dev('xvdf')} ${dev('xvdg')}`]);
  });

  it('leaves a running array alone', async () => {
    raid.active.add(dev('md/data'));
    expect((await run({ '/dev/md/data': array })).raids[0]?.action).toBe('present');
    expect(raid.calls).toEqual([]);
  });

  it('retries "Device or resource busy" every 5 s, as the original did', async () => {
    raid.busy = 2;
    expect((await run({ '/dev/md/data': array })).raids[0]?.action).toBe('created');
    expect(clock.sleeps).toEqual([5_000, 5_000]);
  });

  it('fails naming the missing md driver', async () => {
    raid.driver = false;
    await expect(run({ '/dev/md/data': array })).rejects.toMatchObject({
      code: 'RAID_FAILED',
      message:
        'volumes.raid./dev/md/data: the kernel has no md (software RAID) driver: /proc/mdstat is missing',
    });
  });

  it('fails naming the key path and the member that never appeared', async () => {
    await expect(
      run({ '/dev/md/data': { level: 1, devices: ['/dev/xvdf', '/dev/xvdh'] } }),
    ).rejects.toMatchObject({
      code: 'DEVICE_NOT_FOUND',
      message: 'volumes.raid./dev/md/data.devices: device /dev/xvdh did not appear within 1 s',
    });
  });
});
