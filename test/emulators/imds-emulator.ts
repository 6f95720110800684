// Wire-level emulator of the EC2 Instance Metadata Service, IMDSv2 only (HttpTokens=required),
// following the AWS user guide "Use the Instance Metadata Service to access instance metadata".
// It is deliberately at least as strict as the real service: a client that works here should
// work on EC2; the reverse is not promised.
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { closeServer, listen, readBody, send } from './http-util.js';
import { IMDS_PACKETS_PER_SECOND, TokenBucket } from './aws-account.js';
import type { AwsAccount } from './aws-account.js';

/** The instance identity document, with the field names EC2 really uses. */
export interface IdentityDocument {
  accountId: string;
  architecture: string;
  availabilityZone: string;
  billingProducts: string[] | null;
  devpayProductCodes: string[] | null;
  marketplaceProductCodes: string[] | null;
  imageId: string;
  instanceId: string;
  instanceType: string;
  kernelId: string | null;
  pendingTime: string;
  privateIp: string;
  ramdiskId: string | null;
  region: string;
  version: string;
}

/** Credentials served under meta-data/iam/security-credentials/<name> (instance profile). */
export interface InstanceRole {
  name: string;
  accessKeyId: string;
  secretAccessKey: string;
  token: string;
}

export interface ImdsEmulatorOptions {
  userData?: string | Buffer | undefined;
  identity?: Partial<IdentityDocument>;
  /** Without a role, the iam/ paths are 404 — like an instance without an instance profile. */
  instanceRole?: InstanceRole | undefined;
  /**
   * Instance tags, served under meta-data/tags/instance/ as when the instance has
   * InstanceMetadataTags enabled; without them those paths are 404, like the default.
   */
  tags?: Readonly<Record<string, string>>;
  /** The primary interface (meta-data/mac and network/interfaces/macs/<mac>/subnet-id). */
  network?: { mac: string; subnetId: string };
  /** meta-data/public-ipv4; without it the path is 404, as for an instance without one. */
  publicIpv4?: string;
  /**
   * Counts this instance's requests in a shared account (as caller `imds:<instance id>`). The
   * IMDS quota itself is per network interface (1,024 packets/s, never scaled): a request over
   * it is dropped like its packets (the socket is destroyed). Each request counts as one packet,
   * a lower bound.
   */
  account?: AwsAccount;
  /** The per-instance packet limit (default 1,024 per second; a test may lower it). */
  packetsPerSecond?: number;
}

export interface RecordedImdsRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

const TOKEN_PATH = '/latest/api/token';
const TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
const MAX_TTL_SECONDS = 21_600; // 6 hours, the documented maximum

type Fault = { kind: 'reset' } | { kind: 'status'; status: number };

export class ImdsEmulator {
  /** Every request received, including those answered by an injected fault. */
  readonly requests: RecordedImdsRequest[] = [];
  tokensIssued = 0;

  private readonly tokens = new Map<string, number>(); // token -> expiry (epoch ms)
  private readonly faults: Fault[] = [];
  private forbidden = false;
  private down = false;
  private userData: Buffer | undefined;
  private readonly identity: IdentityDocument;
  private readonly tags: Readonly<Record<string, string>> | undefined;
  private readonly network: { mac: string; subnetId: string };
  private readonly publicIpv4: string | undefined;
  private spotAction: string | undefined;
  private targetLifecycleState: string | undefined;
  private readonly account: AwsAccount | undefined;
  private readonly packets: TokenBucket;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    options: ImdsEmulatorOptions,
    private readonly role: InstanceRole | undefined,
  ) {
    this.setUserData(options.userData);
    this.tags = options.tags;
    this.network = options.network ?? { mac: '0a:1b:2c:3d:4e:5f', subnetId: 'subnet-0a1b2c3d4e5f60718' };
    this.publicIpv4 = options.publicIpv4;
    this.account = options.account;
    const pps = options.packetsPerSecond ?? IMDS_PACKETS_PER_SECOND;
    this.packets = new TokenBucket(pps, Math.max(1, pps), Date.now);
    const region = options.identity?.region ?? 'eu-central-1';
    this.identity = {
      accountId: '123456789012',
      architecture: 'x86_64',
      availabilityZone: `${region}a`,
      billingProducts: null,
      devpayProductCodes: null,
      marketplaceProductCodes: null,
      imageId: 'ami-0123456789abcdef0',
      instanceId: 'i-0123456789abcdef0',
      instanceType: 't3.micro',
      kernelId: null,
      pendingTime: '2024-01-01T00:00:00Z',
      privateIp: '10.0.0.10',
      ramdiskId: null,
      region,
      version: '2017-09-30',
      ...options.identity,
    };
  }

  static async start(options: ImdsEmulatorOptions = {}): Promise<ImdsEmulator> {
    // The handler needs the emulator and the emulator needs the server: close the loop by ref.
    const ref: { emulator?: ImdsEmulator } = {};
    const { server, url } = await listen(async (req, res) => {
      if (!ref.emulator) throw new Error('not started');
      await ref.emulator.handle(req, res);
    });
    ref.emulator = new ImdsEmulator(server, url, options, options.instanceRole);
    return ref.emulator;
  }

  async close(): Promise<void> {
    await closeServer(this.server);
  }

  /** `undefined` removes the user data: GET /latest/user-data then answers 404, as on EC2. */
  setUserData(data: string | Buffer | undefined): void {
    this.userData = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  }

  /**
   * A spot interruption notice, served at meta-data/spot/instance-action as EC2 does two minutes
   * before it acts (`{"action": "terminate", "time": "2017-09-18T08:22:00Z"}`); undefined: 404.
   */
  setSpotInstanceAction(
    notice: { action: 'terminate' | 'stop' | 'hibernate'; time: string } | undefined,
  ): void {
    this.spotAction = notice === undefined ? undefined : JSON.stringify(notice);
  }

  /**
   * meta-data/autoscaling/target-lifecycle-state: InService, Terminated, Detached, Warmed:Stopped,
   * Warmed:Running, Warmed:Hibernated, Warmed:Terminated; undefined: 404, as outside an ASG.
   */
  setTargetLifecycleState(state: string | undefined): void {
    this.targetLifecycleState = state;
  }

  /** The next `count` requests of any kind get their socket destroyed (IMDS not up yet at boot). */
  unavailable(count: number): void {
    for (let i = 0; i < count; i++) this.faults.push({ kind: 'reset' });
  }

  /** The next `count` requests of any kind are answered with `status` (e.g. 500, 503). */
  respondWithStatus(status: number, count: number): void {
    for (let i = 0; i < count; i++) this.faults.push({ kind: 'status', status });
  }

  /** While on, every connection is reset (IMDS unreachable: a network or hypervisor outage). */
  unreachable(on: boolean): void {
    this.down = on;
  }

  /** Every request gets 403, as when IMDS is disabled or the PUT response exceeds the hop limit. */
  forbid(on: boolean): void {
    this.forbidden = on;
  }

  /** Makes every token issued so far invalid, without waiting for real time to pass. */
  expireAllTokens(): void {
    this.tokens.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? '';
    const path = req.url ?? '';
    this.requests.push({ method, path, headers: { ...req.headers } });
    const overQuota = !this.packets.take();
    this.account?.record('imds:request', `imds:${this.identity.instanceId}`, overQuota);
    const fault = this.down || overQuota ? ({ kind: 'reset' } as const) : this.faults.shift();
    if (fault?.kind === 'reset') {
      req.socket.destroy(); // the client sees ECONNRESET / "socket hang up" / "fetch failed"
      return;
    }
    // IMDS requests carry no meaningful body; cap it anyway and drain it before answering.
    await readBody(req, 16 * 1024).catch(() => undefined);
    const reply =
      fault?.kind === 'status' ? text(fault.status, String(fault.status)) : this.route(req, method, path);
    send(res, reply.status, reply.body, reply.headers);
  }

  private route(req: IncomingMessage, method: string, path: string): Reply {
    if (this.forbidden) return text(403, 'Forbidden');
    if (path === TOKEN_PATH) {
      return method === 'PUT' ? this.issueToken(req) : text(405, 'Method Not Allowed', { allow: 'PUT' });
    }
    if (method !== 'GET') return text(405, 'Method Not Allowed', { allow: 'GET' });
    // HttpTokens=required: any GET without a valid token is 401, checked before the path so
    // an IMDSv1 client learns nothing (not even 404) from the service.
    const token = req.headers[TOKEN_HEADER];
    const expiry = typeof token === 'string' ? this.tokens.get(token) : undefined;
    if (expiry === undefined || expiry <= Date.now()) {
      if (typeof token === 'string') this.tokens.delete(token);
      return text(401, 'Unauthorized');
    }
    const reply = this.serve(path);
    reply.headers[TTL_HEADER] = String(Math.max(0, Math.floor((expiry - Date.now()) / 1000)));
    return reply;
  }

  private issueToken(req: IncomingMessage): Reply {
    // Tokens must not be obtainable through a proxy/forwarder: real IMDS refuses such PUTs.
    if (req.headers['x-forwarded-for'] !== undefined) return text(403, 'Forbidden');
    const raw = req.headers[TTL_HEADER];
    const ttl = typeof raw === 'string' && /^\d{1,6}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!(ttl >= 1 && ttl <= MAX_TTL_SECONDS)) return text(400, 'Bad Request');
    const token = randomBytes(42).toString('base64'); // opaque, 56 chars like the real ones
    this.tokens.set(token, Date.now() + ttl * 1000);
    this.tokensIssued++;
    return text(200, token, { [TTL_HEADER]: String(ttl) });
  }

  private serve(path: string): Reply {
    const doc = this.identity;
    switch (path) {
      case '/latest/user-data':
        if (!this.userData) return text(404, 'Not Found');
        return { status: 200, body: this.userData, headers: { 'content-type': 'application/octet-stream' } };
      case '/latest/dynamic/instance-identity/document':
        // EC2 serves the document as text/plain, pretty-printed with `"key" : value`; emulating
        // that keeps clients honest (they must JSON.parse, not sniff the content type).
        return text(200, JSON.stringify(doc, null, 2).replace(/^(\s*"[^"]+"):/gm, '$1 :'));
      case '/latest/meta-data/instance-id':
        return text(200, doc.instanceId);
      case '/latest/meta-data/placement/availability-zone':
        return text(200, doc.availabilityZone);
      case '/latest/meta-data/placement/region':
        return text(200, doc.region);
      case '/latest/meta-data/local-ipv4':
        return text(200, doc.privateIp);
      case '/latest/meta-data/public-ipv4':
        return this.publicIpv4 === undefined ? text(404, 'Not Found') : text(200, this.publicIpv4);
      case '/latest/meta-data/mac':
        return text(200, this.network.mac);
      case '/latest/meta-data/network/interfaces/macs/':
        return text(200, `${this.network.mac}/`);
      case `/latest/meta-data/network/interfaces/macs/${this.network.mac}/subnet-id`:
        return text(200, this.network.subnetId);
      case '/latest/meta-data/spot/instance-action':
        return this.spotAction === undefined ? text(404, 'Not Found') : text(200, this.spotAction);
      case '/latest/meta-data/autoscaling/target-lifecycle-state':
        return this.targetLifecycleState === undefined
          ? text(404, 'Not Found')
          : text(200, this.targetLifecycleState);
    }
    const tagPrefix = '/latest/meta-data/tags/instance/';
    if (this.tags !== undefined && path.startsWith(tagPrefix)) {
      const key = decodeURIComponent(path.slice(tagPrefix.length));
      if (key === '') return text(200, Object.keys(this.tags).join('\n'));
      const value = this.tags[key];
      return value === undefined ? text(404, 'Not Found') : text(200, value);
    }
    const role = this.role;
    if (role && path === '/latest/meta-data/iam/security-credentials/') return text(200, role.name);
    if (role && path === `/latest/meta-data/iam/security-credentials/${role.name}`) {
      const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const creds = {
        Code: 'Success',
        LastUpdated: iso(Date.now()),
        Type: 'AWS-HMAC',
        AccessKeyId: role.accessKeyId,
        SecretAccessKey: role.secretAccessKey,
        Token: role.token,
        Expiration: iso(Date.now() + 6 * 3600_000),
      };
      return text(200, JSON.stringify(creds, null, 2));
    }
    return text(404, 'Not Found');
  }
}

interface Reply {
  status: number;
  body: string | Buffer;
  headers: Record<string, string>;
}

function text(status: number, body: string, headers: Record<string, string> = {}): Reply {
  return { status, body, headers: { 'content-type': 'text/plain', ...headers } };
}
