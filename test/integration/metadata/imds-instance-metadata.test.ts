import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { ImdsInstanceMetadata } from '../../../src/metadata/imds-instance-metadata.js';
import { ImdsEmulator } from '../../emulators/imds-emulator.js';

let imds: ImdsEmulator | undefined;
afterEach(async () => {
  await imds?.close();
  imds = undefined;
});

function client(url: string, budgetMs = 5_000) {
  return new ImdsInstanceMetadata({
    baseUrl: url,
    clock: systemClock,
    log: pino({ level: 'silent' }),
    budgetMs,
  });
}
const signal = new AbortController().signal;

describe('ImdsInstanceMetadata (IMDSv2 only)', () => {
  it('reads the identity and user data with one session token', async () => {
    imds = await ImdsEmulator.start({
      userData: '#taupage-ami-config\nruntime: Docker\n',
      identity: { region: 'eu-west-1', instanceId: 'i-0abc' },
    });
    const metadata = client(imds.url);
    expect(await metadata.identity(signal)).toMatchObject({
      instanceId: 'i-0abc',
      region: 'eu-west-1',
      availabilityZone: 'eu-west-1a',
    });
    expect((await metadata.userData(signal)).toString()).toBe('#taupage-ami-config\nruntime: Docker\n');
    expect(imds.tokensIssued).toBe(1);
    expect(
      imds.requests.every(
        (request) => request.method === 'PUT' || request.headers['x-aws-ec2-metadata-token'] !== undefined,
      ),
    ).toBe(true);
  });

  it('reads the Auto Scaling group from the instance tags when IMDS shows tags, else leaves it out', async () => {
    imds = await ImdsEmulator.start({
      userData: 'x: 1\n',
      tags: { 'aws:autoscaling:groupName': 'kio-AppServer-1' },
    });
    expect((await client(imds.url).identity(signal)).autoScalingGroupName).toBe('kio-AppServer-1');
    await imds.close();
    imds = await ImdsEmulator.start({ userData: 'x: 1\n' });
    expect((await client(imds.url).identity(signal)).autoScalingGroupName).toBeUndefined();
  });

  it('shares one token between concurrent requests', async () => {
    imds = await ImdsEmulator.start({ userData: 'x: 1\n' });
    const metadata = client(imds.url);
    await Promise.all([metadata.identity(signal), metadata.userData(signal)]);
    expect(imds.tokensIssued).toBe(1);
  });

  it('renews the token once on 401 and repeats the request', async () => {
    imds = await ImdsEmulator.start({ userData: 'runtime: Docker\n' });
    const metadata = client(imds.url);
    await metadata.identity(signal);
    imds.expireAllTokens();
    expect((await metadata.userData(signal)).toString()).toBe('runtime: Docker\n');
    expect(imds.tokensIssued).toBe(2);
  });

  it('keeps retrying while IMDS is not up yet (connection resets, 503s)', async () => {
    imds = await ImdsEmulator.start({ userData: 'x: 1\n' });
    imds.unavailable(2);
    imds.respondWithStatus(503, 2);
    expect((await client(imds.url).userData(signal)).toString()).toBe('x: 1\n');
  });

  it('gives up with IMDS_UNAVAILABLE when nothing answers within the budget', async () => {
    imds = await ImdsEmulator.start({ userData: 'x: 1\n' });
    imds.unavailable(1_000);
    await expect(client(imds.url, 500).userData(signal)).rejects.toMatchObject({
      code: 'IMDS_UNAVAILABLE',
      retriable: true,
    });
  });

  it('retries a transient failure of the boot-time reads (public-ipv4, subnet id); a 404 stays "none"', async () => {
    imds = await ImdsEmulator.start({ userData: 'x: 1\n', publicIpv4: '203.0.113.7' });
    const metadata = client(imds.url);
    await metadata.identity(signal); // the session token first: the faults hit the reads themselves
    imds.unavailable(1);
    imds.respondWithStatus(503, 1);
    expect(await metadata.publicIpv4(signal)).toBe('203.0.113.7');
    imds.respondWithStatus(500, 1);
    expect(await metadata.subnetId(signal)).toBe('subnet-0a1b2c3d4e5f60718');
    await imds.close();
    imds = await ImdsEmulator.start({ userData: 'x: 1\n' });
    const without = client(imds.url);
    expect(await without.publicIpv4(signal)).toBeUndefined();
    expect(imds.requests.filter((request) => request.path === '/latest/meta-data/public-ipv4')).toHaveLength(
      1,
    );
  });

  it('stops at once on 403 with IMDS_FORBIDDEN', async () => {
    imds = await ImdsEmulator.start({ userData: 'x: 1\n' });
    imds.forbid(true);
    await expect(client(imds.url).identity(signal)).rejects.toMatchObject({ code: 'IMDS_FORBIDDEN' });
    expect(imds.requests).toHaveLength(1);
  });

  it('reports missing user data (404) as USER_DATA_NOT_FOUND without retrying', async () => {
    imds = await ImdsEmulator.start({ userData: undefined });
    await expect(client(imds.url).userData(signal)).rejects.toMatchObject({ code: 'USER_DATA_NOT_FOUND' });
    expect(imds.requests.filter((request) => request.path === '/latest/user-data')).toHaveLength(1);
  });
});
