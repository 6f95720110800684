import { Option } from 'commander';
import {
  isMutableTagPolicy,
  MUTABLE_TAG_POLICIES,
  type MutableTagPolicy,
} from '../config/image-reference.js';
import { UsageError } from './output.js';

/**
 * `--mutable-tags` (TAUPAGE_MUTABLE_TAGS): the AMI's tag policy for `source`, shared by `agent`,
 * `local`, `plan` and `validate` so that a config checked ahead of time is judged as at boot.
 */
export function mutableTagsOption(): Option {
  return new Option(
    '--mutable-tags <policy>',
    'source images tagged latest, *SNAPSHOT* or untagged: reject, warn (accept with a warning) or allow; digests always pass',
  )
    .env('TAUPAGE_MUTABLE_TAGS')
    .default('reject');
}

export function mutableTagPolicy(value: string): MutableTagPolicy {
  const policy = value.trim().toLowerCase();
  if (!isMutableTagPolicy(policy))
    throw new UsageError(`--mutable-tags expects ${MUTABLE_TAG_POLICIES.join(', ')}, not "${value}"`);
  return policy;
}
