import { TaupageError } from '../../src/core/errors.js';
import type { Ec2Volume, Ec2Volumes } from '../../src/host/disks/ec2-volumes.js';

interface FakeVolume {
  volumeId: string;
  name: string;
  availabilityZone: string;
  state: string;
  attachment: { instanceId: string; device: string; state: string } | undefined;
  tags: Map<string, string>;
}

/**
 * In-memory EC2 volumes for unit tests. `failNext` queues errors thrown before the next calls
 * (e.g. VOLUME_API_UNAVAILABLE for throttling); attachments complete at once unless `attachStates` says
 * which states `describe` reports first.
 */
export class FakeEc2Volumes implements Ec2Volumes {
  readonly volumes: FakeVolume[] = [];
  readonly calls: string[] = [];
  readonly failures: TaupageError[] = [];
  attachStates: string[] = [];
  onAttach: ((volumeId: string, device: string) => Promise<void>) | undefined;

  add(
    volumeId: string,
    name: string,
    availabilityZone = 'eu-central-1a',
    tags: Record<string, string> = {},
  ): void {
    this.volumes.push({
      volumeId,
      name,
      availabilityZone,
      state: 'available',
      attachment: undefined,
      tags: new Map([['Name', name], ...Object.entries(tags)]),
    });
  }

  failNext(...errors: TaupageError[]): void {
    this.failures.push(...errors);
  }

  findAvailable(name: string, availabilityZone: string): Promise<Ec2Volume[]> {
    return this.#call('findAvailable', () =>
      this.volumes
        .filter((v) => v.name === name && v.availabilityZone === availabilityZone && v.state === 'available')
        .map(toVolume),
    );
  }

  findAttached(instanceId: string, device: string): Promise<Ec2Volume | undefined> {
    return this.#call('findAttached', () => {
      const found = this.volumes.find(
        (v) => v.attachment?.instanceId === instanceId && v.attachment.device === device,
      );
      return found === undefined ? undefined : toVolume(found);
    });
  }

  describe(volumeId: string): Promise<Ec2Volume> {
    return this.#call('describe', () => {
      const volume = this.#get(volumeId);
      const next = this.attachStates.shift();
      if (next !== undefined && volume.attachment !== undefined) volume.attachment.state = next;
      return toVolume(volume);
    });
  }

  async attach(volumeId: string, instanceId: string, device: string): Promise<void> {
    await this.#call('attach', () => {
      const volume = this.#get(volumeId);
      if (volume.state !== 'available')
        throw new TaupageError('VOLUME_ATTACH_FAILED', 'VolumeInUse', { retriable: true });
      volume.state = 'in-use';
      volume.attachment = { instanceId, device, state: 'attached' };
    });
    await this.onAttach?.(volumeId, device);
  }

  deleteTag(volumeId: string, key: string, value: string): Promise<void> {
    return this.#call('deleteTag', () => {
      const volume = this.#get(volumeId);
      if (volume.tags.get(key) === value) volume.tags.delete(key);
    });
  }

  #get(volumeId: string): FakeVolume {
    const volume = this.volumes.find((v) => v.volumeId === volumeId);
    if (volume === undefined) throw new TaupageError('VOLUME_NOT_FOUND', `no ${volumeId}`);
    return volume;
  }

  #call<T>(name: string, run: () => T): Promise<T> {
    this.calls.push(name);
    const failure = this.failures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    try {
      return Promise.resolve(run());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

function toVolume(volume: FakeVolume): Ec2Volume {
  return {
    volumeId: volume.volumeId,
    availabilityZone: volume.availabilityZone,
    state: volume.state,
    attachments: volume.attachment === undefined ? [] : [{ ...volume.attachment }],
    tags: new Map(volume.tags),
  };
}
