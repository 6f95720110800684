import { TaupageError } from '../core/errors.js';
import { formatImageReference, type ImageReference } from '../config/image-reference.js';
import type { RegistryAuth } from './container-runtime.js';

/**
 * The original's trust check (Pier One): before pulling, fetch the manifest and require a header
 * saying the image is fit for production. Here the header names are the AMI's choice, so any
 * registry that can set a header can take part; without a policy there is no check.
 */
export interface TrustPolicy {
  /** Checked in order; the first one present decides, and only the value `true` passes. */
  readonly headers: readonly string[];
  /** Header carrying the registry's reason for a refusal. */
  readonly reasonHeader: string;
}

export const PIERONE_TRUST_POLICY: TrustPolicy = {
  headers: ['X-Production-Ready-Taupage', 'X-Trusted'],
  reasonHeader: 'X-Production-Ready-Reason',
};

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
const REQUEST_TIMEOUT_MS = 30_000;

export async function verifyImageTrusted(
  image: ImageReference,
  auth: RegistryAuth | undefined,
  policy: TrustPolicy,
  signal: AbortSignal,
): Promise<void> {
  const reference = formatImageReference(image);
  const response = await fetchManifest(image, auth, signal);
  if (response.status === 404)
    throw new TaupageError('IMAGE_NOT_FOUND', `Image ${reference} not found in its registry`);
  if (response.status === 401 || response.status === 403) {
    throw new TaupageError(
      'REGISTRY_AUTH_FAILED',
      `Registry refused the manifest of ${reference} (HTTP ${response.status})`,
    );
  }
  if (!response.ok) {
    throw new TaupageError(
      'IMAGE_PULL_FAILED',
      `Registry answered HTTP ${response.status} for the manifest of ${reference}`,
    );
  }
  const decisive = policy.headers.find((name) => response.headers.has(name));
  if (decisive !== undefined && response.headers.get(decisive)?.trim().toLowerCase() === 'true') return;
  const reason =
    response.headers.get(policy.reasonHeader) ??
    (decisive === undefined ? `no ${policy.headers.join(' or ')} header` : `${decisive} is not true`);
  throw new TaupageError(
    'IMAGE_UNTRUSTED',
    `Image ${reference} is not trusted for production: ${reason.slice(0, 200)}`,
  );
}

/** GET the manifest, answering a Bearer challenge (distribution's token auth) once. */
async function fetchManifest(
  image: ImageReference,
  auth: RegistryAuth | undefined,
  signal: AbortSignal,
): Promise<Response> {
  const base = `${registryScheme(image.registry)}://${image.registry}`;
  const url = `${base}/v2/${image.repository}/manifests/${image.digest ?? image.tag ?? 'latest'}`;
  const basic =
    auth === undefined
      ? undefined
      : `Basic ${Buffer.from(`${auth.username}:${auth.password.reveal()}`).toString('base64')}`;
  const get = (authorization: string | undefined): Promise<Response> =>
    fetch(url, {
      method: 'GET',
      headers: { accept: MANIFEST_TYPES, ...(authorization === undefined ? {} : { authorization }) },
      signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
      redirect: 'follow',
    }).catch((error: unknown) => {
      throw new TaupageError(
        'IMAGE_PULL_FAILED',
        `Registry ${image.registry} did not answer the trust check`,
        { cause: error },
      );
    });
  const first = await get(basic);
  const challenge = first.headers.get('www-authenticate') ?? '';
  if (first.status !== 401 || !/^bearer /i.test(challenge)) return first;
  await first.body?.cancel();
  const params = new Map<string, string>();
  for (const match of challenge.matchAll(/(\w+)="([^"]*)"/g)) params.set(match[1] ?? '', match[2] ?? '');
  const realm = params.get('realm');
  if (realm === undefined) return first;
  const tokenUrl = new URL(realm);
  const service = params.get('service');
  if (service !== undefined) tokenUrl.searchParams.set('service', service);
  tokenUrl.searchParams.set('scope', params.get('scope') ?? `repository:${image.repository}:pull`);
  // The token endpoint is part of the registry: an outage there (no answer, 5xx, 429) is a
  // transient pull failure, retried like one. Only a refusal of the credentials (401, 403) is
  // the registry's final word, and then the manifest's own 401 stands.
  const tokenResponse = await fetch(tokenUrl, {
    headers: basic === undefined ? {} : { authorization: basic },
    signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
  }).catch((error: unknown) => {
    throw new TaupageError(
      'IMAGE_PULL_FAILED',
      `Registry ${image.registry} token endpoint did not answer the trust check`,
      { cause: error },
    );
  });
  if (tokenResponse.status === 401 || tokenResponse.status === 403) {
    await tokenResponse.body?.cancel();
    return first;
  }
  if (!tokenResponse.ok) {
    await tokenResponse.body?.cancel();
    throw new TaupageError(
      'IMAGE_PULL_FAILED',
      `Registry ${image.registry} token endpoint answered HTTP ${tokenResponse.status}`,
    );
  }
  const body = (await tokenResponse.json().catch(() => ({}))) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  return token === undefined ? first : get(`Bearer ${token}`);
}

/** Like Docker: plain HTTP only for loopback registries, HTTPS for everything else. */
function registryScheme(registry: string): 'http' | 'https' {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(registry) ? 'http' : 'https';
}
