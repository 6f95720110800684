import { TaupageError } from '../../src/core/errors.js';
import type { RaidArrays } from '../../src/host/disks/raid-arrays.js';

/** Software RAID in memory: records what would have been run; `busy` fails creates that often. */
export class FakeRaidArrays implements RaidArrays {
  readonly active = new Set<string>();
  readonly superblocks = new Set<string>();
  readonly calls: string[] = [];
  driver = true;
  busy = 0;

  driverAvailable(): Promise<boolean> {
    return Promise.resolve(this.driver);
  }

  isActive(device: string): Promise<boolean> {
    return Promise.resolve(this.active.has(device));
  }

  hasSuperblock(member: string): Promise<boolean> {
    return Promise.resolve(this.superblocks.has(member));
  }

  assemble(device: string, members: readonly string[]): Promise<void> {
    this.calls.push(`assemble ${device} ${members.join(' ')}`);
    this.active.add(device);
    return Promise.resolve();
  }

  create(device: string, level: number, members: readonly string[]): Promise<void> {
    this.calls.push(`create ${device} level ${level} ${members.join(' ')}`);
    if (this.busy > 0) {
      this.busy--;
      return Promise.reject(
        new TaupageError('RAID_FAILED', `mdadm --create ${device} failed: Device or resource busy`, {
          retriable: true,
        }),
      );
    }
    this.active.add(device);
    for (const member of members) this.superblocks.add(member);
    return Promise.resolve();
  }
}
