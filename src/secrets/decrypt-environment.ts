import type { Secret } from '../core/secret.js';
import type { EnvironmentVariable } from '../config/taupage-config.js';
import { decryptConfigSecrets, type DecryptOptions } from './decrypt-config-secrets.js';

export { KMS_CONCURRENCY, KMS_RETRY_POLICY } from './decrypt-config-secrets.js';

export type DecryptEnvironmentOptions = DecryptOptions;

/**
 * Decrypts the encrypted values of `environment` alone, by variable name. The boot decrypts
 * every `aws:kms:` value of the config at once with `decryptConfigSecrets`; this is the same
 * thing for a list of variables. Fails fast on the first permanent error with a message naming
 * the variable (never its value).
 */
export async function decryptEnvironment(
  variables: readonly EnvironmentVariable[],
  options: DecryptEnvironmentOptions,
): Promise<Map<string, Secret>> {
  const encrypted = variables.flatMap((variable) =>
    variable.value.kind === 'encrypted'
      ? [
          {
            name: variable.name,
            path: `environment.${variable.name}`,
            ciphertext: variable.value.ciphertext,
            required: true,
          },
        ]
      : [],
  );
  const { secrets } = await decryptConfigSecrets(encrypted, options);
  const byName = new Map<string, Secret>();
  for (const variable of encrypted) {
    const secret = secrets.get(variable.ciphertext);
    if (secret !== undefined) byName.set(variable.name, secret);
  }
  return byName;
}
