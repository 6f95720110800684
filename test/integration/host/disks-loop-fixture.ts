import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_DISK_TIMINGS, type DiskSettings } from '../../../src/host/disks/disk-settings.js';

const exec = promisify(execFile);

/** Runs a tool with an argv array and returns stdout. */
export async function sh(file: string, ...args: string[]): Promise<string> {
  return (await exec(file, args, { encoding: 'utf8' })).stdout;
}

/**
 * A private /dev, /sys/block and /mounts in a temp dir, with real loop devices linked in under
 * EC2 names (`<dev>/xvdf` → /dev/loop3). `cleanup` unmounts everything below the dir and
 * detaches every loop device it made, whatever the test did.
 */
export class LoopFixture {
  readonly loops: string[] = [];

  private constructor(readonly dir: string) {}

  static async create(prefix: string): Promise<LoopFixture> {
    const dir = await mkdtemp(join(tmpdir(), `taupage-${prefix}-`));
    for (const sub of ['dev', 'sys/block', 'img', 'mounts']) await mkdir(join(dir, sub), { recursive: true });
    return new LoopFixture(dir);
  }

  get devDir(): string {
    return join(this.dir, 'dev');
  }

  settings(owner = { uid: 4242, gid: 4242 }): DiskSettings {
    return {
      devDir: this.devDir,
      sysBlockDir: join(this.dir, 'sys', 'block'),
      byIdDir: join(this.dir, 'dev', 'disk', 'by-id'),
      mountRoot: join(this.dir, 'mounts'),
      applicationOwner: owner,
      timings: {
        ...DEFAULT_DISK_TIMINGS,
        volumeSearchAttempts: 3,
        volumeSearchIntervalMs: 50,
        attachTimeoutMs: 10_000,
        attachPollMs: 20,
        deviceTimeoutMs: 10_000,
        devicePollMs: 20,
        ec2Retry: { ...DEFAULT_DISK_TIMINGS.ec2Retry, initialDelayMs: 20, maxDelayMs: 200 },
      },
    };
  }

  image(name: string): string {
    return join(this.dir, 'img', name);
  }

  /** A sparse file of `sizeMb` behind a fresh loop device. */
  async loop(name: string, sizeMb: number): Promise<string> {
    await sh('truncate', '-s', `${sizeMb}M`, this.image(name));
    const device = (await sh('losetup', '--find', '--show', this.image(name))).trim();
    this.loops.push(device);
    return device;
  }

  /** `<dev>/<name>` → the loop device, as the kernel (or udev) would name it. */
  async link(name: string, device: string): Promise<void> {
    await mkdir(join(this.devDir, name, '..'), { recursive: true });
    await symlink(device, join(this.devDir, name));
  }

  /** Enlarges the backing file and tells the loop driver (what ModifyVolume does to a disk). */
  async grow(name: string, device: string, sizeMb: number): Promise<void> {
    await sh('truncate', '-s', `${sizeMb}M`, this.image(name));
    await sh('losetup', '--set-capacity', device);
  }

  hostPath(path: string): string {
    return join(this.dir, 'mounts', path);
  }

  /** Mount points below the fixture, deepest first. */
  async mountsBelow(): Promise<string[]> {
    const table = await readFile('/proc/self/mountinfo', 'utf8');
    return table
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((point) => point.startsWith(this.dir))
      .sort((a, b) => b.length - a.length);
  }

  async unmountAll(): Promise<void> {
    for (const point of await this.mountsBelow()) await sh('umount', point);
  }

  async cleanup(): Promise<void> {
    await this.unmountAll();
    for (const device of this.loops) await sh('losetup', '--detach', device).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}
