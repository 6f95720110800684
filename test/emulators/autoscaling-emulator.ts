import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AwsError, closeServer, listen, readBody, send, verifySigV4 } from './http-util.js';

/**
 * Amazon EC2 Auto Scaling as an instance's agent sees it when it goes away: CompleteLifecycleAction
 * and DescribeAutoScalingInstances (API 2011-01-01, AWS query protocol, signed for
 * `autoscaling`), with the service's input constraints and ValidationError answers. Tests create
 * a group with hooks, put an instance in it and start its termination, which waits in
 * `Terminating:Wait` on a termination hook until the action is completed.
 */
const VERSION = '2011-01-01';
const XMLNS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';
const HOOK_NAME = /^[A-Za-z0-9\-_/]{1,255}$/;
const TERMINATING = 'autoscaling:EC2_INSTANCE_TERMINATING';
const LAUNCHING = 'autoscaling:EC2_INSTANCE_LAUNCHING';

interface Instance {
  state: string;
  /** The hook whose action the instance waits on. */
  waitingOn: string | undefined;
}

interface Group {
  readonly hooks: Map<string, typeof TERMINATING | typeof LAUNCHING>;
  readonly instances: Map<string, Instance>;
}

export interface CompletedAction {
  readonly hook: string;
  readonly group: string;
  readonly instanceId: string;
  readonly result: 'CONTINUE' | 'ABANDON';
}

export class AutoScalingEmulator {
  readonly #groups = new Map<string, Group>();
  readonly calls: string[] = [];
  readonly completed: CompletedAction[] = [];
  #throttle = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly region: string,
  ) {}

  static async start(options: { region?: string } = {}): Promise<AutoScalingEmulator> {
    const region = options.region ?? 'eu-central-1';
    const holder: { emulator?: AutoScalingEmulator } = {};
    const { server, url } = await listen(async (req, res) => {
      if (holder.emulator === undefined) throw new Error('not started');
      await holder.emulator.handle(req, res);
    });
    holder.emulator = new AutoScalingEmulator(server, url, region);
    return holder.emulator;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  createGroup(
    name: string,
    hooks: ReadonlyArray<{ name: string; transition: 'terminating' | 'launching' }>,
  ): void {
    this.#groups.set(name, {
      hooks: new Map(
        hooks.map((hook) => [hook.name, hook.transition === 'terminating' ? TERMINATING : LAUNCHING]),
      ),
      instances: new Map(),
    });
  }

  addInstance(group: string, instanceId: string): void {
    this.#group(group).instances.set(instanceId, { state: 'InService', waitingOn: undefined });
  }

  /** Scale-in of this instance: it waits on the group's termination hook, if it has one. */
  beginTermination(group: string, instanceId: string): void {
    const g = this.#group(group);
    const instance = g.instances.get(instanceId);
    if (instance === undefined) throw new Error(`${instanceId} is not in ${group}`);
    const hook = [...g.hooks].find(([, transition]) => transition === TERMINATING)?.[0];
    instance.state = hook === undefined ? 'Terminating' : 'Terminating:Wait';
    instance.waitingOn = hook;
  }

  lifecycleState(group: string, instanceId: string): string | undefined {
    return this.#groups.get(group)?.instances.get(instanceId)?.state;
  }

  throttleNext(count: number): void {
    this.#throttle += count;
  }

  #group(name: string): Group {
    const group = this.#groups.get(name);
    if (group === undefined) throw new Error(`no group ${name}`);
    return group;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== 'POST') throw new AwsError('InvalidAction', 'Only POST is supported', 400);
      const body = await readBody(req, 64 * 1024);
      verifySigV4(req, body, this.region, 'autoscaling', undefined, []);
      const form = new URLSearchParams(body.toString('utf8'));
      const action = form.get('Action') ?? '';
      if (form.get('Version') !== VERSION)
        throw new AwsError(
          'InvalidAction',
          `Could not find operation ${action} for version ${form.get('Version') ?? ''}`,
          400,
        );
      this.calls.push(action);
      if (this.#throttle > 0) {
        this.#throttle--;
        throw new AwsError('Throttling', 'Rate exceeded', 400);
      }
      const requestId = randomUUID();
      if (action === 'CompleteLifecycleAction') {
        this.completeLifecycleAction(form);
        send(
          res,
          200,
          `<CompleteLifecycleActionResponse xmlns="${XMLNS}"><CompleteLifecycleActionResult/><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></CompleteLifecycleActionResponse>`,
          { 'content-type': 'text/xml' },
        );
      } else if (action === 'DescribeAutoScalingInstances') {
        send(res, 200, this.describeAutoScalingInstances(form, requestId), { 'content-type': 'text/xml' });
      } else {
        throw new AwsError('InvalidAction', `Could not find operation ${action} for version ${VERSION}`, 400);
      }
    } catch (error) {
      const aws = error instanceof AwsError ? error : new AwsError('InternalFailure', 'internal error', 500);
      send(
        res,
        aws.status,
        `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${aws.status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${aws.code}</Code><Message>${escape(aws.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
        { 'content-type': 'text/xml' },
      );
    }
  }

  private completeLifecycleAction(form: URLSearchParams): void {
    const hook = required(form, 'LifecycleHookName', 'lifecycleHookName', 255);
    if (!HOOK_NAME.test(hook))
      throw validation(
        `Value '${hook}' at 'lifecycleHookName' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9\\-_\\/]+`,
      );
    const groupName = required(form, 'AutoScalingGroupName', 'autoScalingGroupName', 255);
    const result = required(form, 'LifecycleActionResult', 'lifecycleActionResult', 255);
    const instanceId = form.get('InstanceId') ?? undefined;
    const token = form.get('LifecycleActionToken') ?? undefined;
    if (instanceId !== undefined && (instanceId.length < 1 || instanceId.length > 19))
      throw validation(
        `Value '${instanceId}' at 'instanceId' failed to satisfy constraint: Member must have length less than or equal to 19`,
      );
    if (result !== 'CONTINUE' && result !== 'ABANDON')
      throw new AwsError(
        'ValidationError',
        `Invalid value for LifecycleActionResult: ${result}. Valid values are CONTINUE and ABANDON`,
        400,
      );
    if (instanceId === undefined && token === undefined)
      throw new AwsError(
        'ValidationError',
        'Either a LifecycleActionToken or an InstanceId must be specified',
        400,
      );
    const group = this.#groups.get(groupName);
    if (group?.hooks.has(hook) !== true)
      throw new AwsError(
        'ValidationError',
        `No Lifecycle Hook found with name ${hook} for group ${groupName}`,
        400,
      );
    const instance = instanceId === undefined ? undefined : group.instances.get(instanceId);
    if (instanceId === undefined || instance?.waitingOn !== hook)
      throw new AwsError(
        'ValidationError',
        instanceId === undefined
          ? `No active Lifecycle Action found with token ${token ?? ''}`
          : `No active Lifecycle Action found with instance ID ${instanceId}`,
        400,
      );
    instance.waitingOn = undefined;
    instance.state =
      group.hooks.get(hook) === TERMINATING
        ? 'Terminating:Proceed'
        : result === 'CONTINUE'
          ? 'Pending:Proceed'
          : 'Terminating';
    this.completed.push({ hook, group: groupName, instanceId, result });
  }

  private describeAutoScalingInstances(form: URLSearchParams, requestId: string): string {
    const ids: string[] = [];
    for (let index = 1; form.has(`InstanceIds.member.${index}`); index++)
      ids.push(form.get(`InstanceIds.member.${index}`) ?? '');
    if (ids.length > 50)
      throw validation(
        `Value '[${ids.join(', ')}]' at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to 50`,
      );
    const members: string[] = [];
    for (const [groupName, group] of this.#groups) {
      for (const [id, instance] of group.instances) {
        if (ids.length > 0 && !ids.includes(id)) continue;
        members.push(
          `<member><InstanceId>${id}</InstanceId><InstanceType>t3.micro</InstanceType><AutoScalingGroupName>${escape(groupName)}</AutoScalingGroupName><AvailabilityZone>${this.region}a</AvailabilityZone><LifecycleState>${instance.state}</LifecycleState><HealthStatus>HEALTHY</HealthStatus><ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>`,
        );
      }
    }
    return `<DescribeAutoScalingInstancesResponse xmlns="${XMLNS}"><DescribeAutoScalingInstancesResult><AutoScalingInstances>${members.join('')}</AutoScalingInstances></DescribeAutoScalingInstancesResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></DescribeAutoScalingInstancesResponse>`;
  }
}

function required(form: URLSearchParams, member: string, field: string, max: number): string {
  const value = form.get(member);
  if (value === null)
    throw validation(`Value null at '${field}' failed to satisfy constraint: Member must not be null`);
  if (value.length < 1)
    throw validation(
      `Value '' at '${field}' failed to satisfy constraint: Member must have length greater than or equal to 1`,
    );
  if (value.length > max)
    throw validation(
      `Value '${value}' at '${field}' failed to satisfy constraint: Member must have length less than or equal to ${max}`,
    );
  return value;
}

function validation(detail: string): AwsError {
  return new AwsError('ValidationError', `1 validation error detected: ${detail}`, 400);
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
