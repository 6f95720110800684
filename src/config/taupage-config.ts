import type { ImageReference } from './image-reference.js';

/** The typed, frozen config the agent runs on. Built only by `validateConfig`. */
export interface TaupageConfig {
  readonly runtime: 'Docker';
  readonly source: ImageReference;
  readonly applicationId: string | undefined;
  readonly applicationVersion: string | undefined;
  readonly environment: readonly EnvironmentVariable[];
  readonly ports: readonly PortMapping[];
  /** Run the container as root instead of the `application` user. */
  readonly root: boolean;
  readonly healthCheck: HealthCheckConfig | undefined;
  /** Registry host → basic-auth credentials (the original's `dockercfg`). */
  readonly registryCredentials: ReadonlyMap<string, RegistryCredential>;
}

/** A config value: written in clear, or a KMS ciphertext (`aws:kms:<base64>`) to decrypt at boot. */
export type ConfigValue =
  | { readonly kind: 'plain'; readonly value: string }
  | { readonly kind: 'encrypted'; readonly ciphertext: Buffer };

export interface EnvironmentVariable {
  readonly name: string;
  readonly value: ConfigValue;
}

export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: 'tcp' | 'udp';
}

export interface HealthCheckConfig {
  readonly path: string;
  /** `health_check_port`, else the lowest TCP host port. */
  readonly port: number;
  readonly timeoutSeconds: number;
}

export interface RegistryCredential {
  readonly username: string;
  readonly password: ConfigValue;
}

export const KMS_PREFIX = 'aws:kms:';
