import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AwsError, closeServer, listen, readBody, send, verifySigV4 } from './http-util.js';
import type { AwsAccount } from './aws-account.js';

/**
 * CloudFormation, as far as an instance signals it: `SignalResource` over the AWS **query**
 * protocol (form-encoded POST, XML answers) that @aws-sdk/client-cloudformation speaks.
 * Stricter than AWS: a signal for an unknown stack or resource, or for a resource that is not
 * waiting for signals, is a ValidationError; every parameter is checked against the API's
 * constraints (UniqueId 1–64 characters, Status SUCCESS|FAILURE).
 */
export interface RecordedSignal {
  readonly stackName: string;
  readonly logicalResourceId: string;
  readonly uniqueId: string;
  readonly status: 'SUCCESS' | 'FAILURE';
  readonly at: number;
}

const API_VERSION = '2010-05-15';
const XMLNS = `http://cloudformation.amazonaws.com/doc/${API_VERSION}/`;

export class CloudFormationEmulator {
  readonly signals: RecordedSignal[] = [];
  /** stack name → logical ids of resources waiting for signals (a CreationPolicy). */
  readonly #waiting = new Map<string, Set<string>>();
  #throttle = 0;
  /** A shared account: its SignalResource quota applies (400 Throttling "Rate exceeded", XML). */
  account: AwsAccount | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly region: string,
  ) {}

  static async start(
    options: { region?: string; account?: AwsAccount } = {},
  ): Promise<CloudFormationEmulator> {
    const region = options.region ?? 'eu-central-1';
    // The handler needs the emulator, which needs the server: a holder breaks the cycle.
    const holder: { emulator?: CloudFormationEmulator } = {};
    const { server, url } = await listen(async (req, res) => {
      if (holder.emulator === undefined) throw new Error('not started');
      await holder.emulator.handle(req, res);
    });
    holder.emulator = new CloudFormationEmulator(server, url, region);
    holder.emulator.account = options.account;
    return holder.emulator;
  }

  /** A stack whose resource waits for signals, as an ASG with a CreationPolicy does. */
  expectSignal(stackName: string, logicalResourceId: string): void {
    const resources = this.#waiting.get(stackName) ?? new Set<string>();
    resources.add(logicalResourceId);
    this.#waiting.set(stackName, resources);
  }

  throttleNext(count: number): void {
    this.#throttle += count;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== 'POST' || (req.url ?? '/') !== '/')
        throw new AwsError('InvalidAction', 'Only POST / is supported', 400);
      const contentType = req.headers['content-type'] ?? '';
      if (!contentType.startsWith('application/x-www-form-urlencoded')) {
        throw new AwsError('MalformedInput', `Unexpected content type ${contentType}`, 400);
      }
      const body = await readBody(req, 64 * 1024);
      verifySigV4(req, body, this.region, 'cloudformation', undefined, []);
      const form = new URLSearchParams(body.toString('utf8'));
      if (form.get('Version') !== API_VERSION)
        throw new AwsError('InvalidParameterValue', 'Unsupported Version', 400);
      if (this.#throttle > 0) {
        this.#throttle--;
        throw new AwsError('Throttling', 'Rate exceeded', 400);
      }
      const action = form.get('Action');
      if (action !== 'SignalResource')
        throw new AwsError('InvalidAction', `Unsupported action ${action ?? ''}`, 400);
      if (this.account?.admit('cloudformation:SignalResource', req) === false)
        throw new AwsError('Throttling', 'Rate exceeded', 400);
      this.signalResource(form);
      send(
        res,
        200,
        `<SignalResourceResponse xmlns="${XMLNS}"><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></SignalResourceResponse>`,
        { 'content-type': 'text/xml' },
      );
    } catch (error) {
      const aws = error instanceof AwsError ? error : new AwsError('InternalFailure', 'internal error', 500);
      const type = aws.status >= 500 ? 'Receiver' : 'Sender';
      send(
        res,
        aws.status,
        `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${type}</Type><Code>${aws.code}</Code><Message>${escapeXml(aws.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
        { 'content-type': 'text/xml' },
      );
    }
  }

  private signalResource(form: URLSearchParams): void {
    const required = (name: string, max: number): string => {
      const value = form.get(name);
      if (value === null || value.length < 1 || value.length > max) {
        throw new AwsError(
          'ValidationError',
          `1 validation error detected: Value at '${name}' failed to satisfy constraint: length 1-${max}`,
          400,
        );
      }
      return value;
    };
    const stackName = required('StackName', 2048);
    const logicalResourceId = required('LogicalResourceId', 255);
    const uniqueId = required('UniqueId', 64);
    const status = required('Status', 7);
    if (status !== 'SUCCESS' && status !== 'FAILURE') {
      throw new AwsError(
        'ValidationError',
        "Value at 'Status' failed to satisfy constraint: Member must satisfy enum value set: [SUCCESS, FAILURE]",
        400,
      );
    }
    const resources = this.#waiting.get(stackName);
    if (resources === undefined)
      throw new AwsError('ValidationError', `Stack ${stackName} does not exist`, 400);
    if (!resources.has(logicalResourceId)) {
      throw new AwsError(
        'ValidationError',
        `Resource ${logicalResourceId} is in CREATE_COMPLETE state and can not be signaled`,
        400,
      );
    }
    this.signals.push({ stackName, logicalResourceId, uniqueId, status, at: Date.now() });
  }
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
