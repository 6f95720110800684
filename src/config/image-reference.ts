/**
 * A parsed `source`: `[registry[:port]/]path[:tag][@sha256:digest]`. Unlike the original, which
 * split on the first colon, a registry with a port (`localhost:5000/team/app:1.0`) works. A
 * reference without a registry (`stups/odd:1.0`, `nginx:1.25`) means Docker Hub, as for
 * `docker pull`; the original refused those, so the validator warns about them.
 */
export interface ImageReference {
  /** Host and optional port, e.g. `pierone.stups.zalan.do`, `127.0.0.1:5000`, `docker.io`. */
  readonly registry: string;
  /** Repository path inside the registry, e.g. `teapot/kio`, `library/nginx`. */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

export type ImageReferenceResult =
  | {
      readonly ok: true;
      readonly reference: ImageReference;
      /** true when the text named no registry and Docker Hub was assumed. */
      readonly implicitRegistry: boolean;
    }
  | { readonly ok: false; readonly message: string };

export const DOCKER_HUB = 'docker.io';

// The distribution/reference grammar, cut down to what we accept.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const REGISTRY_HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?$/;
const MAX_LENGTH = 512;

/** As Docker decides it: the first component is a registry if it has a dot, a port or is localhost. */
function isRegistryComponent(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

export function parseImageReference(source: string): ImageReferenceResult {
  let rest = source.trim();
  if (rest === '')
    return { ok: false, message: 'expected an image like registry/org/app:1.0, found an empty string' };
  if (rest.length > MAX_LENGTH)
    return { ok: false, message: `expected an image reference, found ${rest.length} characters` };
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      return { ok: false, message: `invalid digest "${digest.slice(0, 80)}" (expected sha256:<64 hex>)` };
  }
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  const implicitRegistry = slash === -1 || !isRegistryComponent(first);
  const registry = implicitRegistry ? DOCKER_HUB : first;
  if (!implicitRegistry && !REGISTRY_HOST.test(first))
    return { ok: false, message: `invalid registry "${first}"` };
  let path = implicitRegistry ? rest : rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon !== -1 && colon > path.lastIndexOf('/')) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) return { ok: false, message: `invalid tag "${tag.slice(0, 80)}"` };
  }
  if (path === '' || !path.split('/').every((part) => PATH_COMPONENT.test(part))) {
    return {
      ok: false,
      message: `invalid repository "${path.slice(0, 80)}" (lowercase letters, digits and . _ - / only)`,
    };
  }
  // Docker Hub's official images live under library/, as `docker pull nginx` resolves them.
  if (implicitRegistry && !path.includes('/')) path = `library/${path}`;
  return { ok: true, reference: { registry, repository: path, tag, digest }, implicitRegistry };
}

/**
 * The AMI's policy for mutable tags (`latest`, `*SNAPSHOT*` in any case, no tag at all):
 * `reject` (the default, as the original) fails validation, `warn` accepts them with a warning,
 * `allow` accepts them silently. Digests (`@sha256:`) are always accepted. A mutable tag that is
 * accepted is pulled again on every boot: it may have moved.
 */
export type MutableTagPolicy = 'reject' | 'warn' | 'allow';

export const MUTABLE_TAG_POLICIES: readonly MutableTagPolicy[] = ['reject', 'warn', 'allow'];

export function isMutableTagPolicy(value: string): value is MutableTagPolicy {
  return (MUTABLE_TAG_POLICIES as readonly string[]).includes(value);
}

/** Why a reference breaks the immutable-tag policy, or undefined when it is fine. */
export function mutableTagReason(reference: ImageReference): string | undefined {
  if (reference.digest !== undefined) return undefined;
  return mutableTag(reference.tag);
}

/** The tag policy on its own: tags must be immutable versions. */
export function mutableTag(tag: string | undefined): string | undefined {
  if (tag === undefined) return 'has no tag (tags must be immutable versions, e.g. :1.0.3)';
  if (tag === 'latest') return 'uses the mutable tag "latest"';
  if (/snapshot/i.test(tag)) return `uses the mutable SNAPSHOT tag "${tag}"`;
  return undefined;
}

export function formatImageReference(reference: ImageReference): string {
  const tag = reference.tag === undefined ? '' : `:${reference.tag}`;
  const digest = reference.digest === undefined ? '' : `@${reference.digest}`;
  return `${reference.registry}/${reference.repository}${tag}${digest}`;
}
