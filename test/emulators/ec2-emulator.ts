import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AwsError, closeServer, listen, readBody, send, verifySigV4 } from './http-util.js';
import type { AwsAccount } from './aws-account.js';

/**
 * EC2 as the disk step sees it: DescribeVolumes (filters with wildcards, volume ids),
 * AttachVolume (attaching → attached after a delay, with EC2's refusals), CreateTags and
 * DeleteTags, over the EC2 query protocol (form POST, API 2016-11-15, XML in the EC2 namespace,
 * errors as `<Response><Errors>…`), SigV4-signed for `ec2`. Throttling on demand answers
 * RequestLimitExceeded with HTTP 503, as EC2 does. When an attachment completes, a test hook
 * can create the device node (a loop device) so the agent's device wait is real.
 */
const VERSION = '2016-11-15';
const XMLNS = `http://ec2.amazonaws.com/doc/${VERSION}/`;

export interface EmulatedAttachment {
  instanceId: string;
  device: string;
  state: 'attaching' | 'attached';
}

export interface EmulatedVolume {
  volumeId: string;
  availabilityZone: string;
  size: number;
  state: 'creating' | 'available' | 'in-use';
  tags: Map<string, string>;
  attachment: EmulatedAttachment | undefined;
}

export type AttachHook = (volume: EmulatedVolume, device: string) => Promise<void>;

const FILTERS: Record<string, (volume: EmulatedVolume) => readonly string[]> = {
  'volume-id': (volume) => [volume.volumeId],
  status: (volume) => [volume.state],
  'availability-zone': (volume) => [volume.availabilityZone],
  size: (volume) => [String(volume.size)],
  'attachment.instance-id': (volume) => (volume.attachment ? [volume.attachment.instanceId] : []),
  'attachment.device': (volume) => (volume.attachment ? [volume.attachment.device] : []),
  'attachment.status': (volume) => (volume.attachment ? [volume.attachment.state] : []),
  'tag-key': (volume) => [...volume.tags.keys()],
};

/** EBS device names EC2 accepts for AttachVolume on Linux. */
const DEVICE_NAME = /^\/dev\/(sd[b-z]|xvd[b-z]|xvd[b-c][a-z]|sd[b-z][1-9]|xvd[b-z][1-9])$/;

export class Ec2Emulator {
  readonly #instances = new Map<string, string>();
  readonly #volumes = new Map<string, EmulatedVolume>();
  /** Actions in arrival order (throttled ones included). */
  readonly calls: string[] = [];
  /** Errors thrown by the attach hook (a test asserts this stays empty). */
  readonly hookErrors: unknown[] = [];
  #throttle = 0;
  #timers = new Set<NodeJS.Timeout>();
  attachDelayMs = 50;
  deviceDelayMs = 50;
  onAttach: AttachHook | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly region: string,
  ) {}

  /** A shared account: EC2's request-token buckets apply (503 RequestLimitExceeded). */
  account: AwsAccount | undefined;

  static async start(options: { region?: string; account?: AwsAccount } = {}): Promise<Ec2Emulator> {
    const region = options.region ?? 'eu-central-1';
    const holder: { emulator?: Ec2Emulator } = {};
    const { server, url } = await listen(async (req, res) => {
      if (holder.emulator === undefined) throw new Error('not started');
      await holder.emulator.handle(req, res);
    });
    holder.emulator = new Ec2Emulator(server, url, region);
    holder.emulator.account = options.account;
    return holder.emulator;
  }

  addInstance(instanceId: string, availabilityZone: string): void {
    this.#instances.set(instanceId, availabilityZone);
  }

  addVolume(options: {
    availabilityZone: string;
    name?: string;
    tags?: Record<string, string>;
    volumeId?: string;
    size?: number;
    state?: 'creating' | 'available';
  }): string {
    const volumeId = options.volumeId ?? `vol-0${randomBytes(8).toString('hex').slice(0, 16)}`;
    const tags = new Map(Object.entries(options.tags ?? {}));
    if (options.name !== undefined) tags.set('Name', options.name);
    this.#volumes.set(volumeId, {
      volumeId,
      availabilityZone: options.availabilityZone,
      size: options.size ?? 8,
      state: options.state ?? 'available',
      tags,
      attachment: undefined,
    });
    return volumeId;
  }

  volume(volumeId: string): EmulatedVolume {
    const volume = this.#volumes.get(volumeId);
    if (volume === undefined) throw new Error(`no volume ${volumeId}`);
    return volume;
  }

  /** The attachment another instance (or a previous boot) made, without the API. */
  attachDirectly(volumeId: string, instanceId: string, device: string): void {
    const volume = this.volume(volumeId);
    volume.state = 'in-use';
    volume.attachment = { instanceId, device, state: 'attached' };
  }

  detach(volumeId: string): void {
    const volume = this.volume(volumeId);
    volume.state = 'available';
    volume.attachment = undefined;
  }

  throttleNext(count: number): void {
    this.#throttle += count;
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    await closeServer(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== 'POST') throw new AwsError('InvalidAction', 'Only POST is supported here', 400);
      const body = await readBody(req, 64 * 1024);
      verifySigV4(req, body, this.region, 'ec2', undefined, []);
      const form = new URLSearchParams(body.toString('utf8'));
      const action = form.get('Action') ?? '';
      this.calls.push(action);
      if (form.get('Version') !== VERSION)
        throw new AwsError('InvalidParameterValue', `Unsupported API version ${form.get('Version') ?? ''}`);
      if (this.#throttle > 0) {
        this.#throttle--;
        throw new AwsError('RequestLimitExceeded', 'Request limit exceeded.', 503);
      }
      const bucket = /^(Describe|Get|List)/.test(action) ? 'ec2:non-mutating' : 'ec2:mutating';
      if (this.account?.admit(`ec2:${action}`, req, bucket) === false)
        throw new AwsError('RequestLimitExceeded', 'Request limit exceeded.', 503);
      let xml: string;
      if (action === 'DescribeVolumes') xml = this.describeVolumes(form);
      else if (action === 'AttachVolume') xml = this.attachVolume(form);
      else if (action === 'CreateTags' || action === 'DeleteTags') xml = this.changeTags(action, form);
      else throw new AwsError('InvalidAction', `The action ${action} is not valid for this web service.`);
      send(res, 200, `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`, {
        'content-type': 'text/xml;charset=UTF-8',
      });
    } catch (error) {
      const aws =
        error instanceof AwsError
          ? error
          : new AwsError('InternalError', 'An internal error has occurred', 500);
      send(
        res,
        aws.status,
        `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${aws.code}</Code><Message>${escapeXml(aws.message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
        { 'content-type': 'text/xml;charset=UTF-8' },
      );
    }
  }

  private describeVolumes(form: URLSearchParams): string {
    const ids = list(form, 'VolumeId.', '');
    for (const id of ids) {
      if (!this.#volumes.has(id))
        throw new AwsError('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
    }
    const filters = parseFilters(form);
    const volumes = [...this.#volumes.values()].filter(
      (volume) =>
        (ids.length === 0 || ids.includes(volume.volumeId)) &&
        filters.every(({ name, values }) => {
          const actual = name.startsWith('tag:')
            ? tagValues(volume, name.slice(4))
            : (FILTERS[name]?.(volume) ?? []);
          return values.some((pattern) => actual.some((value) => wildcard(pattern).test(value)));
        }),
    );
    return `<DescribeVolumesResponse xmlns="${XMLNS}"><requestId>${randomUUID()}</requestId><volumeSet>${volumes.map(volumeXml).join('')}</volumeSet></DescribeVolumesResponse>`;
  }

  private attachVolume(form: URLSearchParams): string {
    const volumeId = required(form, 'VolumeId');
    const instanceId = required(form, 'InstanceId');
    const device = required(form, 'Device');
    const volume = this.#volumes.get(volumeId);
    if (volume === undefined)
      throw new AwsError('InvalidVolume.NotFound', `The volume '${volumeId}' does not exist.`);
    const zone = this.#instances.get(instanceId);
    if (zone === undefined)
      throw new AwsError('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    if (!DEVICE_NAME.test(device)) {
      throw new AwsError(
        'InvalidParameterValue',
        `Value (${device}) for parameter device is invalid. ${device} is not a valid EBS device name.`,
      );
    }
    if (volume.availabilityZone !== zone) {
      throw new AwsError(
        'InvalidVolume.ZoneMismatch',
        `The volume '${volumeId}' is not in the same availability zone as instance '${instanceId}'`,
      );
    }
    if (volume.state === 'in-use')
      throw new AwsError('VolumeInUse', `${volumeId} is already attached to an instance`);
    if (volume.state !== 'available')
      throw new AwsError('IncorrectState', `The volume '${volumeId}' is not in the 'available' state.`);
    const taken = [...this.#volumes.values()].some(
      (other) => other.attachment?.instanceId === instanceId && other.attachment.device === device,
    );
    if (taken) {
      throw new AwsError(
        'InvalidParameterValue',
        `Invalid value '${device}' for unixDevice. Attachment point ${device} is already in use`,
      );
    }
    const attachment: EmulatedAttachment = { instanceId, device, state: 'attaching' };
    volume.state = 'in-use';
    volume.attachment = attachment;
    this.later(this.attachDelayMs, () => {
      if (volume.attachment !== attachment) return;
      attachment.state = 'attached';
      this.later(this.deviceDelayMs, () => {
        this.onAttach?.(volume, device).catch((error: unknown) => this.hookErrors.push(error));
      });
    });
    return `<AttachVolumeResponse xmlns="${XMLNS}"><requestId>${randomUUID()}</requestId><volumeId>${volumeId}</volumeId><instanceId>${instanceId}</instanceId><device>${escapeXml(device)}</device><status>attaching</status><attachTime>${new Date().toISOString()}</attachTime></AttachVolumeResponse>`;
  }

  private changeTags(action: 'CreateTags' | 'DeleteTags', form: URLSearchParams): string {
    const resources = list(form, 'ResourceId.', '');
    if (resources.length === 0)
      throw new AwsError('MissingParameter', 'The request must contain the parameter resourceIdSet');
    const tags: Array<{ key: string; value: string | null }> = [];
    for (let index = 1; form.has(`Tag.${index}.Key`); index++)
      tags.push({ key: form.get(`Tag.${index}.Key`) ?? '', value: form.get(`Tag.${index}.Value`) });
    if (action === 'CreateTags' && tags.length === 0)
      throw new AwsError('MissingParameter', 'The request must contain the parameter tagSet');
    for (const id of resources) {
      const volume = this.#volumes.get(id);
      if (volume === undefined)
        throw new AwsError('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
      for (const { key, value } of tags) {
        if (action === 'CreateTags') volume.tags.set(key, value ?? '');
        // DeleteTags with a value deletes the tag only while it has that value.
        else if (value === null || volume.tags.get(key) === value) volume.tags.delete(key);
      }
    }
    return `<${action}Response xmlns="${XMLNS}"><requestId>${randomUUID()}</requestId><return>true</return></${action}Response>`;
  }

  private later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      run();
    }, ms);
    this.#timers.add(timer);
  }
}

function volumeXml(volume: EmulatedVolume): string {
  const attachment = volume.attachment
    ? `<item><volumeId>${volume.volumeId}</volumeId><instanceId>${volume.attachment.instanceId}</instanceId><device>${escapeXml(volume.attachment.device)}</device><status>${volume.attachment.state}</status><attachTime>2026-01-01T00:00:00.000Z</attachTime><deleteOnTermination>false</deleteOnTermination></item>`
    : '';
  const tags = [...volume.tags]
    .map(([key, value]) => `<item><key>${escapeXml(key)}</key><value>${escapeXml(value)}</value></item>`)
    .join('');
  return `<item><volumeId>${volume.volumeId}</volumeId><size>${volume.size}</size><snapshotId/><availabilityZone>${volume.availabilityZone}</availabilityZone><status>${volume.state}</status><createTime>2026-01-01T00:00:00.000Z</createTime><attachmentSet>${attachment}</attachmentSet><volumeType>gp3</volumeType><iops>3000</iops><encrypted>false</encrypted><multiAttachEnabled>false</multiAttachEnabled>${tags === '' ? '' : `<tagSet>${tags}</tagSet>`}</item>`;
}

function parseFilters(form: URLSearchParams): Array<{ name: string; values: string[] }> {
  const filters: Array<{ name: string; values: string[] }> = [];
  for (let index = 1; form.has(`Filter.${index}.Name`); index++) {
    const name = form.get(`Filter.${index}.Name`) ?? '';
    if (!name.startsWith('tag:') && !(name in FILTERS))
      throw new AwsError('InvalidParameterValue', `The filter '${name}' is invalid`);
    const values = list(form, `Filter.${index}.Value.`, '');
    if (values.length === 0)
      throw new AwsError('InvalidParameterCombination', `The filter '${name}' must have at least one value`);
    filters.push({ name, values });
  }
  return filters;
}

function list(form: URLSearchParams, prefix: string, suffix: string): string[] {
  const values: string[] = [];
  for (let index = 1; form.has(`${prefix}${index}${suffix}`); index++)
    values.push(form.get(`${prefix}${index}${suffix}`) ?? '');
  return values;
}

function required(form: URLSearchParams, name: string): string {
  const value = form.get(name);
  if (value === null || value === '')
    throw new AwsError('MissingParameter', `The request must contain the parameter ${name}`);
  return value;
}

function tagValues(volume: EmulatedVolume, key: string): string[] {
  const value = volume.tags.get(key);
  return value === undefined ? [] : [value];
}

/** EC2 filter values take `*` and `?` wildcards; everything else matches literally. */
function wildcard(pattern: string): RegExp {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
