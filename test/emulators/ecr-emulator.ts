import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AwsError, closeServer, JsonInput, listen, readBody, sendJson, verifySigV4 } from './http-util.js';
import type { AwsAccount } from './aws-account.js';

/**
 * ECR's `GetAuthorizationToken` over AWS JSON 1.1, as @aws-sdk/client-ecr sends it. Tokens are
 * base64 `AWS:<password>` and expire after `tokenLifetimeMs` (12 h in AWS). Calls are counted,
 * so tests can see the agent's cache at work; access can be denied.
 */
export class EcrEmulator {
  calls = 0;
  tokenLifetimeMs = 12 * 3_600_000;
  denied = false;
  readonly #password: string;
  /** A shared account: its GetAuthorizationToken quota applies (400 ThrottlingException). */
  account: AwsAccount | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly region: string,
    readonly accountId: string,
    password: string,
  ) {
    this.#password = password;
  }

  static async start(options: {
    region?: string;
    accountId?: string;
    password: string;
    account?: AwsAccount;
  }): Promise<EcrEmulator> {
    const region = options.region ?? 'eu-central-1';
    const holder: { emulator?: EcrEmulator } = {};
    const { server, url } = await listen(async (req, res) => {
      if (holder.emulator === undefined) throw new Error('not started');
      await holder.emulator.handle(req, res);
    });
    holder.emulator = new EcrEmulator(
      server,
      url,
      region,
      options.accountId ?? '123456789012',
      options.password,
    );
    holder.emulator.account = options.account;
    return holder.emulator;
  }

  get registryHost(): string {
    return `${this.accountId}.dkr.ecr.${this.region}.amazonaws.com`;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const type = 'application/x-amz-json-1.1';
    try {
      const body = await readBody(req, 64 * 1024);
      verifySigV4(req, body, this.region, 'ecr', undefined);
      if (req.headers['content-type'] !== type)
        throw new AwsError('SerializationException', 'Unexpected content type');
      const target = req.headers['x-amz-target'];
      if (target !== 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken') {
        throw new AwsError('UnknownOperationException', `Unknown operation ${String(target)}`);
      }
      JsonInput.parse(body, ['registryIds']);
      this.calls++;
      if (this.account?.admit('ecr:GetAuthorizationToken', req) === false)
        throw new AwsError('ThrottlingException', 'Rate exceeded', 400);
      if (this.denied)
        throw new AwsError(
          'AccessDeniedException',
          'User is not authorized to perform: ecr:GetAuthorizationToken',
        );
      sendJson(
        res,
        200,
        {
          authorizationData: [
            {
              authorizationToken: Buffer.from(`AWS:${this.#password}`).toString('base64'),
              // epoch seconds, as the JSON protocol sends timestamps
              expiresAt: (Date.now() + this.tokenLifetimeMs) / 1000,
              proxyEndpoint: `https://${this.registryHost}`,
            },
          ],
        },
        type,
      );
    } catch (error) {
      const aws = error instanceof AwsError ? error : new AwsError('ServerException', 'internal error', 500);
      sendJson(res, aws.status, { __type: aws.code, message: aws.message }, type, {
        'x-amzn-errortype': aws.code,
      });
    }
  }
}
