import {
  AttachVolumeCommand,
  DeleteTagsCommand,
  DescribeVolumesCommand,
  EC2Client,
  type Filter,
  type Volume,
} from '@aws-sdk/client-ec2';
import { firstLine, TaupageError, type ErrorCode } from '../../core/errors.js';
import type { Ec2Volume, Ec2Volumes } from './ec2-volumes.js';

/** One EC2 call; a hung connection must not hold the boot (the caller retries). */
const CALL_TIMEOUT_MS = 15_000;

/** EC2 error codes (the `Code` of the XML error), mapped to ours. */
const THROTTLED = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'InternalError',
  'Unavailable',
]);
const DENIED = new Set(['UnauthorizedOperation', 'AuthFailure', 'Blocked', 'OptInRequired']);
/** The volume was taken (or changed state) between search and attach: search again. */
const LOST_RACE = new Set(['VolumeInUse', 'IncorrectState']);

/**
 * Adapter: DescribeVolumes, AttachVolume and DeleteTags through @aws-sdk/client-ec2 (EC2 query
 * protocol). The SDK's own retries are off (`maxAttempts: 1`): the disk step retries with its
 * named policy and an injected clock.
 */
export class AwsEc2Volumes implements Ec2Volumes {
  readonly #client: EC2Client;

  constructor(options: { region: string; endpoint?: string | undefined }) {
    this.#client = new EC2Client({
      region: options.region,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      maxAttempts: 1,
    });
  }

  async findAvailable(name: string, availabilityZone: string, signal: AbortSignal): Promise<Ec2Volume[]> {
    return this.#describe(
      [
        { Name: 'tag:Name', Values: [name] },
        { Name: 'status', Values: ['available'] },
        { Name: 'availability-zone', Values: [availabilityZone] },
      ],
      signal,
    );
  }

  async findAttached(
    instanceId: string,
    device: string,
    signal: AbortSignal,
  ): Promise<Ec2Volume | undefined> {
    const volumes = await this.#describe(
      [
        { Name: 'attachment.instance-id', Values: [instanceId] },
        { Name: 'attachment.device', Values: [device] },
      ],
      signal,
    );
    return volumes[0];
  }

  async describe(volumeId: string, signal: AbortSignal): Promise<Ec2Volume> {
    const volumes = await this.#call('DescribeVolumes', volumeId, () =>
      this.#client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }), {
        abortSignal: deadline(signal),
      }),
    );
    const volume = volumes.Volumes?.[0];
    if (volume === undefined) throw new TaupageError('VOLUME_NOT_FOUND', `EC2 does not know ${volumeId}`);
    return toVolume(volume);
  }

  async attach(volumeId: string, instanceId: string, device: string, signal: AbortSignal): Promise<void> {
    await this.#call('AttachVolume', volumeId, () =>
      this.#client.send(
        new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device }),
        {
          abortSignal: deadline(signal),
        },
      ),
    );
  }

  async deleteTag(volumeId: string, key: string, value: string, signal: AbortSignal): Promise<void> {
    await this.#call('DeleteTags', volumeId, () =>
      this.#client.send(
        new DeleteTagsCommand({ Resources: [volumeId], Tags: [{ Key: key, Value: value }] }),
        {
          abortSignal: deadline(signal),
        },
      ),
    );
  }

  async #describe(filters: Filter[], signal: AbortSignal): Promise<Ec2Volume[]> {
    const volumes: Ec2Volume[] = [];
    let nextToken: string | undefined;
    do {
      const token = nextToken;
      const page = await this.#call('DescribeVolumes', undefined, () =>
        this.#client.send(
          new DescribeVolumesCommand({
            Filters: filters,
            ...(token === undefined ? {} : { NextToken: token }),
          }),
          { abortSignal: deadline(signal) },
        ),
      );
      volumes.push(...(page.Volumes ?? []).map(toVolume));
      nextToken = page.NextToken;
    } while (nextToken !== undefined && nextToken !== '');
    return volumes;
  }

  async #call<T>(action: string, volumeId: string | undefined, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw mapError(action, volumeId, error);
    }
  }
}

const deadline = (signal: AbortSignal): AbortSignal =>
  AbortSignal.any([signal, AbortSignal.timeout(CALL_TIMEOUT_MS)]);

function toVolume(volume: Volume): Ec2Volume {
  return {
    volumeId: volume.VolumeId ?? '',
    availabilityZone: volume.AvailabilityZone ?? '',
    state: volume.State ?? 'unknown',
    attachments: (volume.Attachments ?? []).map((attachment) => ({
      instanceId: attachment.InstanceId ?? '',
      device: attachment.Device ?? '',
      state: attachment.State ?? 'unknown',
    })),
    tags: new Map((volume.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? ''])),
  };
}

function mapError(action: string, volumeId: string | undefined, error: unknown): unknown {
  if (error instanceof TaupageError) return error;
  const name = error instanceof Error ? error.name : 'Error';
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const said = error instanceof Error ? firstLine(error.message) : String(error);
  const what = `EC2 ${action}${volumeId === undefined ? '' : ` ${volumeId}`} failed (${name}: ${said})`;
  let code: ErrorCode;
  let retriable: boolean | undefined;
  if (name === 'AbortError' || name === 'TimeoutError') {
    code = 'VOLUME_API_UNAVAILABLE';
  } else if (THROTTLED.has(name) || status === undefined || status >= 500) {
    code = 'VOLUME_API_UNAVAILABLE';
  } else if (DENIED.has(name)) {
    code = 'VOLUME_ACCESS_DENIED';
  } else if (name === 'InvalidVolume.NotFound') {
    code = 'VOLUME_NOT_FOUND';
  } else {
    code = 'VOLUME_ATTACH_FAILED';
    retriable = LOST_RACE.has(name);
  }
  return new TaupageError(code, what, { cause: error, ...(retriable === undefined ? {} : { retriable }) });
}
