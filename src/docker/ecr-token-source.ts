import type { Secret } from '../core/secret.js';

export interface EcrToken {
  readonly username: string;
  readonly password: Secret;
  /** ms since the epoch */
  readonly expiresAt: number;
}

/** Port: a docker login token for the account's ECR registry in a region (GetAuthorizationToken). */
export interface EcrTokenSource {
  token(region: string, signal: AbortSignal): Promise<EcrToken>;
}
