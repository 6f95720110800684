import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AwsError, closeServer, listen, readBody, send, verifySigV4 } from './http-util.js';

/**
 * Elastic Load Balancing as an instance sees it at boot: classic ELB `DescribeInstanceHealth`
 * (API 2012-06-01) and ELBv2 `DescribeTargetHealth` (2015-12-01), both over the AWS query
 * protocol and signed for `elasticloadbalancing`. Tests script the states an instance goes
 * through; an unknown load balancer or target group is an error, as in AWS.
 */
type ClassicState = {
  state: 'InService' | 'OutOfService' | 'Unknown';
  reasonCode: 'ELB' | 'Instance' | 'N/A';
  description: string;
};
type TargetState = {
  state: 'initial' | 'healthy' | 'unhealthy' | 'unused' | 'draining' | 'unavailable';
  reason?: string;
};

const CLASSIC = { version: '2012-06-01', xmlns: 'http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/' };
const V2 = { version: '2015-12-01', xmlns: 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/' };

export class ElbEmulator {
  /** name → instance id → the states to report, one per call; the last one repeats. */
  readonly #classic = new Map<string, Map<string, ClassicState[]>>();
  /** target group arn → instance id → states per call. */
  readonly #groups = new Map<string, Map<string, TargetState[][]>>();
  readonly calls: string[] = [];
  #throttle = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly region: string,
  ) {}

  static async start(options: { region?: string } = {}): Promise<ElbEmulator> {
    const region = options.region ?? 'eu-central-1';
    // The handler needs the emulator, which needs the server: a holder breaks the cycle.
    const holder: { emulator?: ElbEmulator } = {};
    const { server, url } = await listen(async (req, res) => {
      if (holder.emulator === undefined) throw new Error('not started');
      await holder.emulator.handle(req, res);
    });
    holder.emulator = new ElbEmulator(server, url, region);
    return holder.emulator;
  }

  classicInstance(loadBalancer: string, instanceId: string, states: ClassicState['state'][]): void {
    const instances = this.#classic.get(loadBalancer) ?? new Map<string, ClassicState[]>();
    instances.set(
      instanceId,
      states.map((state) => ({
        state,
        reasonCode: state === 'InService' ? 'N/A' : 'ELB',
        description:
          state === 'InService'
            ? 'N/A'
            : 'Instance has not passed the configured HealthyThreshold number of health checks consecutively.',
      })),
    );
    this.#classic.set(loadBalancer, instances);
  }

  /** Each call reports the next list of registrations (one per port); the last one repeats. */
  targetGroupInstance(arn: string, instanceId: string, calls: TargetState[][]): void {
    const instances = this.#groups.get(arn) ?? new Map<string, TargetState[][]>();
    instances.set(instanceId, calls);
    this.#groups.set(arn, instances);
  }

  throttleNext(count: number): void {
    this.#throttle += count;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let xmlns = V2.xmlns;
    try {
      if (req.method !== 'POST') throw new AwsError('InvalidAction', 'Only POST is supported', 400);
      const body = await readBody(req, 64 * 1024);
      verifySigV4(req, body, this.region, 'elasticloadbalancing', undefined, []);
      const form = new URLSearchParams(body.toString('utf8'));
      const version = form.get('Version');
      const action = form.get('Action') ?? '';
      xmlns = version === CLASSIC.version ? CLASSIC.xmlns : V2.xmlns;
      this.calls.push(action);
      if (this.#throttle > 0) {
        this.#throttle--;
        throw new AwsError('Throttling', 'Rate exceeded', 400);
      }
      if (version === CLASSIC.version && action === 'DescribeInstanceHealth') {
        send(res, 200, this.describeInstanceHealth(form), { 'content-type': 'text/xml' });
      } else if (version === V2.version && action === 'DescribeTargetHealth') {
        send(res, 200, this.describeTargetHealth(form), { 'content-type': 'text/xml' });
      } else {
        throw new AwsError('InvalidAction', `Unsupported action ${action} for version ${version ?? ''}`, 400);
      }
    } catch (error) {
      const aws = error instanceof AwsError ? error : new AwsError('InternalFailure', 'internal error', 500);
      send(
        res,
        aws.status,
        `<ErrorResponse xmlns="${xmlns}"><Error><Type>${aws.status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${aws.code}</Code><Message>${aws.message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
        { 'content-type': 'text/xml' },
      );
    }
  }

  private describeInstanceHealth(form: URLSearchParams): string {
    const name = form.get('LoadBalancerName') ?? '';
    const instances = this.#classic.get(name);
    if (instances === undefined)
      throw new AwsError('LoadBalancerNotFound', `There is no ACTIVE Load Balancer named '${name}'`, 400);
    const members = requestedIds(form, 'Instances.member.', '.InstanceId').map((id) => {
      const states = instances.get(id);
      if (states === undefined)
        throw new AwsError('InvalidInstance', `Could not find EC2 instance ${id}.`, 400);
      const state = states.length > 1 ? states.shift() : states[0];
      return `<member><InstanceId>${id}</InstanceId><State>${state?.state ?? 'Unknown'}</State><ReasonCode>${state?.reasonCode ?? 'N/A'}</ReasonCode><Description>${state?.description ?? ''}</Description></member>`;
    });
    return `<DescribeInstanceHealthResponse xmlns="${CLASSIC.xmlns}"><DescribeInstanceHealthResult><InstanceStates>${members.join('')}</InstanceStates></DescribeInstanceHealthResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></DescribeInstanceHealthResponse>`;
  }

  private describeTargetHealth(form: URLSearchParams): string {
    const arn = form.get('TargetGroupArn') ?? '';
    const instances = this.#groups.get(arn);
    if (instances === undefined)
      throw new AwsError('TargetGroupNotFound', `Target groups '${arn}' not found`, 400);
    const members = requestedIds(form, 'Targets.member.', '.Id').flatMap((id) => {
      const calls = instances.get(id);
      if (calls === undefined) {
        return [
          `<member><Target><Id>${id}</Id></Target><TargetHealth><State>unused</State><Reason>Target.NotRegistered</Reason></TargetHealth></member>`,
        ];
      }
      const registrations = (calls.length > 1 ? calls.shift() : calls[0]) ?? [];
      return registrations.map(
        (registration, index) =>
          `<member><Target><Id>${id}</Id><Port>${8080 + index}</Port></Target><TargetHealth><State>${registration.state}</State>${registration.reason === undefined ? '' : `<Reason>${registration.reason}</Reason>`}</TargetHealth></member>`,
      );
    });
    return `<DescribeTargetHealthResponse xmlns="${V2.xmlns}"><DescribeTargetHealthResult><TargetHealthDescriptions>${members.join('')}</TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></DescribeTargetHealthResponse>`;
  }
}

function requestedIds(form: URLSearchParams, prefix: string, suffix: string): string[] {
  const ids: string[] = [];
  for (let index = 1; form.has(`${prefix}${index}${suffix}`); index++)
    ids.push(form.get(`${prefix}${index}${suffix}`) ?? '');
  if (ids.length === 0)
    throw new AwsError('ValidationError', 'At least one instance or target is required', 400);
  return ids;
}
