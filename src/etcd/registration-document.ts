import { KMS_PREFIX } from '../config/taupage-config.js';

/** What a masked value reads as (the original's `mask_dictionary` wrote MASKED too). */
export const MASKED = 'MASKED';

/**
 * Key names that look like secrets. The original masked `pass`, `private` and `secret` (and only
 * in the log-sink upload); its etcd heartbeat masked nothing, so `scalyr_account_key`,
 * `logsink_password` and `dockercfg` auth went to every reader of the cluster.
 */
const SECRET_LOOKING = /pass|private|secret|token|key|auth|credential|cert|signature/i;

export function isSecretLooking(key: string): boolean {
  return SECRET_LOOKING.test(key);
}

/**
 * The heartbeat's value: the config as written (taupage.yaml, AMI defaults included) without
 * `environment`, as the original published it, but with every secret-looking key's value and
 * every `aws:kms:` value masked, at any depth. Unknown keys stay: readers use them (`hystrix`
 * for Turbine discovery).
 */
export function registrationValue(config: Readonly<Record<string, unknown>>): string {
  const { environment: _environment, ...rest } = config;
  return JSON.stringify(mask(rest, false));
}

function mask(value: unknown, secret: boolean): unknown {
  if (Array.isArray(value)) return value.map((item) => mask(item, secret));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, mask(item, secret || isSecretLooking(key))]),
    );
  }
  if (value === null || value === undefined) return null;
  if (secret) return MASKED;
  if (typeof value === 'string' && value.startsWith(KMS_PREFIX)) return MASKED;
  return value;
}
