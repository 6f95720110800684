import { isEncrypted, isMapping, readCiphertext } from '../config-values.js';
import { DOCKER_HUB } from '../image-reference.js';
import { decodeRegistryAuth } from '../../docker/registry-basic-auth.js';
import { found, secretTextNode } from '../schema/scalar-nodes.js';
import { INVALID, OMIT, type ReadContext, type SchemaNode } from '../schema/schema-node.js';
import { intrinsicFunctionName, isTemplateValue } from '../schema/template-values.js';
import type { RegistryCredential } from '../taupage-config.js';
import type { ConfigPath } from '../yaml-document.js';

// Docker Hub answers under several names; images from it carry the registry `docker.io`.
const DOCKER_HUB_HOSTS = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'hub.docker.com',
  'registry.hub.docker.com',
]);

/** `https://registry.example.org/v1/` → `registry.example.org`, as dockercfg keys were URLs. */
export function registryHost(registryUrl: string): string {
  const host = registryUrl
    .trim()
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  return DOCKER_HUB_HOSTS.has(host) ? DOCKER_HUB : host;
}

const DOCKERCFG_ENTRY_KEYS = new Set(['auth', 'email', 'username', 'password']);

/**
 * `dockercfg`: registry URL → `{auth: base64(user:password), email}` (or `{username, password}`).
 * The original wrote it to ~/.dockercfg unchecked; a credential that cannot work is a warning
 * and is left out, since it only matters for pulls from that registry.
 */
export function dockercfgNode(): SchemaNode<ReadonlyMap<string, RegistryCredential>> {
  return {
    docType: 'map `registry-url: {auth, email}`',
    read(value, path, context) {
      const credentials = new Map<string, RegistryCredential>();
      if (context.template && intrinsicFunctionName(value) !== undefined) return INVALID;
      if (!isMapping(value)) {
        context.warning(
          path,
          `expected a map of registry-url: {auth: base64(user:password)}, found ${found(value, path)}; ignored`,
          'value',
        );
        return credentials;
      }
      let invalid = false;
      for (const [registryUrl, entry] of Object.entries(value)) {
        const entryPath = [...path, registryUrl];
        if (context.template && isTemplateValue(entry)) {
          invalid = true;
          continue;
        }
        if (!isMapping(entry)) {
          context.error(entryPath, `expected a map with auth, found ${found(entry, [...entryPath, 'auth'])}`);
          invalid = true;
          continue;
        }
        for (const key of Object.keys(entry))
          if (!DOCKERCFG_ENTRY_KEYS.has(key))
            context.warning([...entryPath, key], 'is not a dockercfg key; ignored');
        const email = typeof entry.email === 'string' ? entry.email : undefined;
        const credential = readCredential(entry, entryPath, context);
        if (credential === INVALID) invalid = true;
        else if (credential !== OMIT)
          credentials.set(registryHost(registryUrl), Object.freeze({ ...credential, email }));
      }
      return invalid ? INVALID : credentials;
    },
    jsonSchema: () => ({
      type: 'object',
      additionalProperties: {
        type: 'object',
        properties: {
          auth: { type: 'string', description: 'base64 of user:password, or aws:kms:…' },
          email: { type: 'string' },
          username: { type: 'string' },
          password: { type: 'string' },
        },
      },
    }),
  };
}

function readCredential(
  entry: Record<string, unknown>,
  path: ConfigPath,
  context: ReadContext,
): Omit<RegistryCredential, 'email'> | typeof INVALID | typeof OMIT {
  const auth = entry.auth;
  if (auth === undefined || auth === null) {
    if (typeof entry.username !== 'string' || entry.password === undefined || entry.password === null) {
      context.warning(path, 'has neither auth nor username and password; not used');
      return OMIT;
    }
    const password = secretTextNode().read(entry.password, [...path, 'password'], context);
    return password === INVALID ? INVALID : { username: entry.username, password };
  }
  const authPath = [...path, 'auth'];
  if (isEncrypted(auth)) {
    const ciphertext = readCiphertext(auth);
    return ciphertext === undefined
      ? INVALID
      : { username: undefined, password: { kind: 'encrypted', ciphertext } };
  }
  if (context.template && isTemplateValue(auth)) return INVALID;
  const decoded = typeof auth === 'string' ? decodeRegistryAuth(auth) : undefined;
  if (decoded === undefined) {
    context.warning(
      authPath,
      'expected base64 of "user:password", found something else; this credential is not used',
      'value',
    );
    return OMIT;
  }
  return { username: decoded.username, password: { kind: 'plain', value: decoded.password } };
}
