/**
 * Registry credentials as Docker writes them: `auth` is base64 of `user:password` (dockercfg,
 * ~/.docker/config.json). Used where user data is read (config/keys/dockercfg-nodes.ts) and where
 * a pull is authenticated (ensure-image.ts). Pure: no Docker, no I/O.
 */

/** base64 of `user:password` → the two parts, or undefined when it is something else. */
export function decodeRegistryAuth(auth: string): { username: string; password: string } | undefined {
  const trimmed = auth.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) return undefined;
  const decoded = Buffer.from(trimmed, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
