import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { dump, load } from 'js-yaml';
import type { Clock } from '../core/clock.js';
import { isTaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { retry } from '../core/retry.js';
import { readOrEmpty, writeFileAtomically } from './atomic-file.js';
import { SHIP_RETRY_POLICY } from './audit-shipper.js';

export const MASKED = 'MASKED';
const KMS_PREFIX = 'aws:kms:';
/**
 * The original masked keys containing pass, private or secret (`taupage.is_sensitive_key`); it
 * missed scalyr_account_key and dockercfg's auth, so tokens, keys and credentials are masked too.
 */
const SENSITIVE_KEY = /pass|secret|private|token|credential|auth|cookie|key/i;
/** `scheme://user:password@host`: credentials in a URL. */
const URL_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/i;

/**
 * The taupage.yaml for log-sink's USER_DATA: `aws:kms:` values stay ciphertexts (useless without
 * the instance's KMS permission); every other value under a sensitive-looking key, at any depth,
 * becomes `MASKED`, and credentials in URLs are dropped. So nothing in it is a secret.
 */
export function maskUserData(yamlText: string): string {
  return dump(mask(load(yamlText), false), { sortKeys: true });
}

function mask(value: unknown, sensitive: boolean): unknown {
  if (typeof value === 'string') {
    if (value.startsWith(KMS_PREFIX)) return value;
    return sensitive ? MASKED : value.replace(URL_USERINFO, '$1');
  }
  if (Array.isArray(value)) return value.map((item) => mask(item, sensitive));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([key, item]) => [
        key,
        mask(item, sensitive || SENSITIVE_KEY.test(key)),
      ]),
    );
  return sensitive && value !== null && value !== undefined ? MASKED : value;
}

/** The kernel's boot time as `date --utc --iso-8601=seconds` prints it (the original's format). */
export async function readInstanceBootTime(procStat = '/proc/stat', clock?: Clock): Promise<string> {
  const match = /^btime (\d+)$/m.exec(await readFile(procStat, 'utf8').catch(() => ''));
  const ms = match?.[1] === undefined ? (clock?.now() ?? Date.now()) : Number(match[1]) * 1000;
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

export interface UserDataUploadOptions {
  /** /meta/taupage.yaml as the boot wrote it (ciphertexts only). */
  readonly metaFile: string;
  /** Remembers the boot id and digest of the last upload, so it happens once per boot. */
  readonly markerFile: string;
  readonly bootId: string;
  readonly put: (maskedYaml: string, signal: AbortSignal) => Promise<void>;
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * Uploads the masked taupage.yaml once per boot (and again if it changed, e.g. after an agent
 * restart with new user data). A failure is logged, never fatal: the next agent start retries.
 * Returns whether it uploaded.
 */
export async function uploadUserDataOnce(o: UserDataUploadOptions, signal: AbortSignal): Promise<boolean> {
  const masked = maskUserData(await readFile(o.metaFile, 'utf8'));
  const marker = JSON.stringify({
    bootId: o.bootId,
    sha256: createHash('sha256').update(masked).digest('hex'),
  });
  if ((await readOrEmpty(o.markerFile)).trim() === marker) return false;
  try {
    await retry(() => o.put(masked, signal), SHIP_RETRY_POLICY, {
      clock: o.clock,
      signal,
      isRetriable: (error) => !isTaupageError(error) || error.retriable,
    });
  } catch (error) {
    o.log.error({ err: error }, 'Failed to upload taupage.yaml to log-sink');
    return false;
  }
  await mkdir(dirname(o.markerFile), { recursive: true, mode: 0o700 });
  await writeFileAtomically(o.markerFile, `${marker}\n`);
  o.log.info('Uploaded taupage.yaml to log-sink');
  return true;
}
