/**
 * A parsed `source`: `registry[:port]/path[:tag][@sha256:digest]`. Unlike the original, which
 * split on the first colon, a registry with a port (`localhost:5000/team/app:1.0`) works.
 */
export interface ImageReference {
  /** Host and optional port, e.g. `pierone.stups.zalan.do`, `127.0.0.1:5000`. */
  readonly registry: string;
  /** Repository path inside the registry, e.g. `teapot/kio`. */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

export type ImageReferenceResult =
  | { readonly ok: true; readonly reference: ImageReference }
  | { readonly ok: false; readonly message: string };

// The distribution/reference grammar, cut down to what we accept.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const REGISTRY_HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?$/;

export function parseImageReference(source: string): ImageReferenceResult {
  let rest = source.trim();
  if (rest === '')
    return { ok: false, message: 'expected an image like registry/org/app:1.0, found an empty string' };
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      return { ok: false, message: `invalid digest "${digest}" (expected sha256:<64 hex>)` };
  }
  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  if (slash === -1 || !(first.includes('.') || first.includes(':') || first === 'localhost')) {
    return {
      ok: false,
      message: `"${source}" names no registry (expected registry/org/app:tag, e.g. pierone.example.org/team/app:1.0; Docker Hub short names are not allowed)`,
    };
  }
  if (!REGISTRY_HOST.test(first)) return { ok: false, message: `invalid registry "${first}"` };
  let path = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon !== -1) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) return { ok: false, message: `invalid tag "${tag}"` };
  }
  if (path === '' || !path.split('/').every((part) => PATH_COMPONENT.test(part))) {
    return {
      ok: false,
      message: `invalid repository "${path}" (lowercase letters, digits and . _ - / only)`,
    };
  }
  return { ok: true, reference: { registry: first, repository: path, tag, digest } };
}

/** Why a reference breaks the immutable-tag policy, or undefined when it is fine. */
export function mutableTagReason(reference: ImageReference): string | undefined {
  if (reference.digest !== undefined) return undefined;
  if (reference.tag === undefined) return 'has no tag (tags must be immutable versions, e.g. :1.0.3)';
  if (reference.tag === 'latest') return 'uses the mutable tag "latest"';
  if (/snapshot/i.test(reference.tag)) return `uses the mutable SNAPSHOT tag "${reference.tag}"`;
  return undefined;
}

export function formatImageReference(reference: ImageReference): string {
  const tag = reference.tag === undefined ? '' : `:${reference.tag}`;
  const digest = reference.digest === undefined ? '' : `@${reference.digest}`;
  return `${reference.registry}/${reference.repository}${tag}${digest}`;
}
