import type { Clock } from '../core/clock.js';
import { Secret } from '../core/secret.js';
import type { ImageReference } from '../config/image-reference.js';
import type { RegistryAuth } from './container-runtime.js';
import type { EcrToken, EcrTokenSource } from './ecr-token-source.js';

/** `<account>.dkr.ecr.<region>.amazonaws.com[.cn]` */
const ECR_HOST = /^\d{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/**
 * ECR tokens live 12 h. Treat one as expired an hour early (the ECS agent uses ≥ 30 min), so a
 * pull never starts with a token that dies halfway through a large image.
 */
export const ECR_TOKEN_REFRESH_MARGIN_MS = 60 * 60_000;

export interface RegistryAuthOptions {
  /** `dockercfg` from the TaupageConfig: registry host → basic-auth credentials. */
  readonly basic: ReadonlyMap<string, { readonly username: string; readonly password: Secret }>;
  readonly ecr: EcrTokenSource | undefined;
  /**
   * Registries that accept the signed instance identity document as a login (the original's
   * Pier One): username `instance-identity-document`, password the PKCS7 signature.
   */
  readonly identityDocumentRegistries: ReadonlySet<string>;
  readonly identityDocument: ((signal: AbortSignal) => Promise<string>) | undefined;
  readonly clock: Clock;
}

/**
 * Chooses the credentials for a pull: `dockercfg` first (what the user wrote wins), then ECR for
 * ECR hosts, then the instance identity for the registries the AMI names. Nothing → anonymous.
 */
export class RegistryAuthProvider {
  readonly #ecrTokens = new Map<string, Promise<EcrToken>>();

  constructor(private readonly options: RegistryAuthOptions) {}

  async authFor(image: ImageReference, signal: AbortSignal): Promise<RegistryAuth | undefined> {
    const host = image.registry;
    const basic = this.options.basic.get(host);
    if (basic !== undefined)
      return { username: basic.username, password: basic.password, serverAddress: host };
    const ecrRegion = ECR_HOST.exec(host)?.[1];
    if (ecrRegion !== undefined && this.options.ecr !== undefined) {
      const token = await this.#ecrToken(ecrRegion, signal);
      return { username: token.username, password: token.password, serverAddress: `https://${host}` };
    }
    if (this.options.identityDocumentRegistries.has(host) && this.options.identityDocument !== undefined) {
      const pkcs7 = await this.options.identityDocument(signal);
      return {
        username: 'instance-identity-document',
        password: new Secret(pkcs7.replace(/\s+/g, '')),
        serverAddress: host,
      };
    }
    return undefined;
  }

  async #ecrToken(region: string, signal: AbortSignal): Promise<EcrToken> {
    const cached = this.#ecrTokens.get(region);
    if (cached !== undefined) {
      const token = await cached.catch(() => undefined);
      if (token !== undefined && token.expiresAt - ECR_TOKEN_REFRESH_MARGIN_MS > this.options.clock.now())
        return token;
    }
    const ecr = this.options.ecr;
    if (ecr === undefined) throw new Error('no ECR token source');
    const request = ecr.token(region, signal);
    this.#ecrTokens.set(region, request);
    return request;
  }
}
