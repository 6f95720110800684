import { mkdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { AwsEc2Volumes } from '../../../src/host/disks/aws-ec2-volumes.js';
import { LinuxFilesystems } from '../../../src/host/disks/linux-filesystems.js';
import { MdadmRaidArrays } from '../../../src/host/disks/mdadm-raid-arrays.js';
import { prepareDisks, type DiskConfig, type DiskInstance } from '../../../src/host/disks/prepare-disks.js';
import { Ec2Emulator } from '../../emulators/ec2-emulator.js';
import { LoopFixture } from './disks-loop-fixture.js';

const ZONE = 'eu-central-1a';
let ec2: Ec2Emulator;
let adapter: AwsEc2Volumes;
const fixtures: LoopFixture[] = [];

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDVOLUMESTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'volumes-secret';
  ec2 = await Ec2Emulator.start();
  adapter = new AwsEc2Volumes({ region: ec2.region, endpoint: ec2.url });
});
afterAll(async () => {
  await ec2.close();
});
afterEach(async () => {
  ec2.onAttach = undefined;
  while (fixtures.length > 0) await fixtures.pop()?.cleanup();
});

async function instance(id: string): Promise<{ fixture: LoopFixture; instance: DiskInstance }> {
  const fixture = await LoopFixture.create(`volumes-${id}`);
  fixtures.push(fixture);
  ec2.addInstance(id, ZONE);
  return {
    fixture,
    instance: { instanceId: id, availabilityZone: ZONE, localIpv4: '10.1.2.3', publicIpv4: undefined },
  };
}

function boot(fixture: LoopFixture, node: DiskInstance, config: DiskConfig) {
  return prepareDisks(
    config,
    {
      ec2: adapter,
      instance: node,
      filesystems: new LinuxFilesystems(),
      raid: new MdadmRaidArrays(),
      clock: systemClock,
      log: pino({ level: 'silent' }),
      settings: fixture.settings(),
    },
    new AbortController().signal,
  );
}

const config = (ebs: Record<string, string>, partition = '/dev/xvdf'): DiskConfig => ({
  volumes: { ebs: new Map(Object.entries(ebs)), raid: new Map() },
  mounts: [{ path: '/data', partition, filesystem: 'ext4', eraseOnBoot: false, options: undefined }],
  root: false,
});

describe('volumes.ebs through the EC2 query protocol (real SDK, emulator, loop devices)', () => {
  it('finds the volume by ${local_ipv4} name, attaches it through throttling, waits for the device and mounts it', async () => {
    const { fixture, instance: node } = await instance('i-0attach000000001');
    const volumeId = ec2.addVolume({ availabilityZone: ZONE, name: 'db-10.1.2.3' });
    ec2.addVolume({ availabilityZone: 'eu-central-1b', name: 'db-10.1.2.3' }); // other zone: not ours
    ec2.onAttach = async (_volume, device) =>
      fixture.link(device.slice('/dev/'.length), await fixture.loop('ebs', 64));
    ec2.throttleNext(2);
    ec2.calls.length = 0;
    const report = await boot(fixture, node, config({ '/dev/xvdf': 'db-${local_ipv4}' }));
    expect(report.volumes[0]).toMatchObject({ volumeId, action: 'attached', name: 'db-10.1.2.3' });
    expect(report.mounts[0]).toMatchObject({ action: 'mounted', formatted: 'blank device' });
    expect(ec2.calls.slice(0, 3)).toEqual(['DescribeVolumes', 'DescribeVolumes', 'DescribeVolumes']);
    expect(ec2.calls).toContain('AttachVolume');
    expect(ec2.volume(volumeId).attachment).toEqual({
      instanceId: node.instanceId,
      device: '/dev/xvdf',
      state: 'attached',
    });
    expect(ec2.hookErrors).toEqual([]);

    // Agent restart: device there, filesystem mounted: no EC2 call, nothing touched.
    ec2.calls.length = 0;
    const again = await boot(fixture, node, config({ '/dev/xvdf': 'db-${local_ipv4}' }));
    expect(again.volumes[0]?.action).toBe('present');
    expect(again.mounts[0]?.action).toBe('already-mounted');
    expect(ec2.calls).toEqual([]);
    ec2.detach(volumeId);
  });

  it('maps an NVMe namespace (serial = volume id without dash) to the config device name', async () => {
    const { fixture, instance: node } = await instance('i-0nvme00000000001');
    const volumeId = ec2.addVolume({ availabilityZone: ZONE, name: 'nvme-data' });
    ec2.onAttach = async (volume) => {
      const block = join(fixture.dir, 'sys', 'block', 'nvme7n1', 'device');
      await mkdir(block, { recursive: true });
      await writeFile(join(block, 'serial'), `${volume.volumeId.replace('-', '')}    \n`);
      await fixture.link('nvme7n1', await fixture.loop('nvme', 64));
    };
    const report = await boot(fixture, node, config({ '/dev/sdg': 'nvme-data' }, '/dev/sdg'));
    expect(report.volumes[0]).toMatchObject({ volumeId, resolvedDevice: join(fixture.devDir, 'nvme7n1') });
    expect(await readlink(join(fixture.devDir, 'sdg'))).toBe(join(fixture.devDir, 'nvme7n1'));
    expect(report.mounts[0]).toMatchObject({ action: 'mounted', device: '/dev/sdg' });
    ec2.detach(volumeId);
  });

  it('lets two instances racing for one name each end up with a different volume', async () => {
    const a = await instance('i-0race0000000000a');
    const b = await instance('i-0race0000000000b');
    const first = ec2.addVolume({
      availabilityZone: ZONE,
      name: 'shared',
      volumeId: 'vol-00000000000000001',
    });
    const second = ec2.addVolume({
      availabilityZone: ZONE,
      name: 'shared',
      volumeId: 'vol-00000000000000002',
    });
    ec2.onAttach = async (volume, device) => {
      const owner = volume.attachment?.instanceId === a.instance.instanceId ? a.fixture : b.fixture;
      await owner.link(device.slice('/dev/'.length), await owner.loop('ebs', 64));
    };
    const ebsOnly = {
      volumes: { ebs: new Map([['/dev/xvdh', 'shared']]), raid: new Map() },
      mounts: [],
      root: false,
    };
    const [ra, rb] = await Promise.all([
      boot(a.fixture, a.instance, ebsOnly),
      boot(b.fixture, b.instance, ebsOnly),
    ]);
    expect([ra.volumes[0]?.volumeId, rb.volumes[0]?.volumeId].sort()).toEqual([first, second]);
    ec2.detach(first);
    ec2.detach(second);
  });

  it('fails with VOLUME_NOT_FOUND naming the key when the only volume is attached elsewhere', async () => {
    const { fixture, instance: node } = await instance('i-0notfound0000001');
    const volumeId = ec2.addVolume({ availabilityZone: ZONE, name: 'busy' });
    ec2.attachDirectly(volumeId, 'i-0someoneelse0001', '/dev/xvdf');
    await expect(boot(fixture, node, config({ '/dev/xvdf': 'busy' }))).rejects.toMatchObject({
      code: 'VOLUME_NOT_FOUND',
      message: expect.stringMatching(
        /^volumes\.ebs\.\/dev\/xvdf: no available EBS volume named "busy" in eu-central-1a after 3 searches/,
      ) as unknown,
    });
  });
});

describe('AwsEc2Volumes error mapping (EC2 error codes over the wire)', () => {
  const signal = new AbortController().signal;

  it('maps EC2 refusals to our codes', async () => {
    ec2.addInstance('i-0errors000000001', ZONE);
    const elsewhere = ec2.addVolume({ availabilityZone: 'eu-central-1c', name: 'far' });
    await expect(adapter.attach(elsewhere, 'i-0errors000000001', '/dev/xvdf', signal)).rejects.toMatchObject({
      code: 'VOLUME_ATTACH_FAILED',
      retriable: false,
      message: expect.stringContaining('InvalidVolume.ZoneMismatch') as unknown,
    });
    const used = ec2.addVolume({ availabilityZone: ZONE, name: 'used' });
    ec2.attachDirectly(used, 'i-0other0000000001', '/dev/xvdf');
    await expect(adapter.attach(used, 'i-0errors000000001', '/dev/xvdg', signal)).rejects.toMatchObject({
      code: 'VOLUME_ATTACH_FAILED',
      retriable: true,
    });
    await expect(adapter.describe('vol-0000000000000dead', signal)).rejects.toMatchObject({
      code: 'VOLUME_NOT_FOUND',
    });
    ec2.throttleNext(1);
    await expect(adapter.findAvailable('x', ZONE, signal)).rejects.toMatchObject({
      code: 'VOLUME_API_UNAVAILABLE',
      retriable: true,
      message: expect.stringContaining('RequestLimitExceeded') as unknown,
    });
  });

  it('deletes a tag only while it still has the given value', async () => {
    const id = ec2.addVolume({ availabilityZone: ZONE, tags: { 'Taupage:erase-on-boot': 'False' } });
    await adapter.deleteTag(id, 'Taupage:erase-on-boot', 'True', signal);
    expect(ec2.volume(id).tags.get('Taupage:erase-on-boot')).toBe('False');
    ec2.volume(id).tags.set('Taupage:erase-on-boot', 'True');
    await adapter.deleteTag(id, 'Taupage:erase-on-boot', 'True', signal);
    expect(ec2.volume(id).tags.has('Taupage:erase-on-boot')).toBe(false);
  });

  it('reads tags, zone and attachments of the volume attached at a device', async () => {
    const id = ec2.addVolume({ availabilityZone: ZONE, name: 'mine', tags: { team: 'disks' } });
    ec2.attachDirectly(id, 'i-0reader00000001', '/dev/xvdk');
    const found = await adapter.findAttached('i-0reader00000001', '/dev/xvdk', signal);
    expect(found).toEqual({
      volumeId: id,
      availabilityZone: ZONE,
      state: 'in-use',
      attachments: [{ instanceId: 'i-0reader00000001', device: '/dev/xvdk', state: 'attached' }],
      tags: new Map([
        ['team', 'disks'],
        ['Name', 'mine'],
      ]),
    });
    expect(await adapter.findAttached('i-0reader00000001', '/dev/xvdz', signal)).toBeUndefined();
  });
});
