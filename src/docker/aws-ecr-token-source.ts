import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { TaupageError } from '../core/errors.js';
import { Secret } from '../core/secret.js';
import type { EcrToken, EcrTokenSource } from './ecr-token-source.js';

/** Adapter: ECR GetAuthorizationToken (AWS JSON 1.1) with the instance role, one client per region. */
export class AwsEcrTokenSource implements EcrTokenSource {
  readonly #clients = new Map<string, ECRClient>();

  constructor(private readonly endpoint: string | undefined) {}

  async token(region: string, signal: AbortSignal): Promise<EcrToken> {
    let client = this.#clients.get(region);
    if (client === undefined) {
      client = new ECRClient({ region, ...(this.endpoint === undefined ? {} : { endpoint: this.endpoint }) });
      this.#clients.set(region, client);
    }
    let output;
    try {
      output = await client.send(new GetAuthorizationTokenCommand({}), {
        abortSignal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
      });
    } catch (error) {
      const name = error instanceof Error ? error.name : 'error';
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const transient = status === undefined || status >= 500 || /Throttl/.test(name);
      throw new TaupageError(
        transient ? 'IMAGE_PULL_FAILED' : 'REGISTRY_AUTH_FAILED',
        `ECR GetAuthorizationToken failed (${name})`,
        {
          cause: error,
          retriable: transient,
        },
      );
    }
    const data = output.authorizationData?.[0];
    const decoded = Buffer.from(data?.authorizationToken ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (data?.expiresAt === undefined || colon <= 0) {
      throw new TaupageError('REGISTRY_AUTH_FAILED', 'ECR returned no usable authorization token');
    }
    return {
      username: decoded.slice(0, colon),
      password: new Secret(decoded.slice(colon + 1)),
      expiresAt: data.expiresAt.getTime(),
    };
  }
}
