import { DISK_FIELDS } from './keys/disk-keys.js';
import {
  CREDENTIAL_FIELDS,
  METRICS_FIELDS,
  NETWORK_FIELDS,
  OS_FIELDS,
  SSH_FIELDS,
} from './keys/host-keys.js';
import { IGNORED_KEYS } from './keys/ignored-keys.js';
import { LIFECYCLE_FIELDS } from './keys/lifecycle-keys.js';
import { LOGGING_FIELDS } from './keys/logging-keys.js';
import { RUNTIME_FIELDS } from './keys/runtime-keys.js';
import {
  objectNode,
  type FieldSpec,
  type FieldSpecs,
  type IgnoredKey,
  type ObjectNode,
} from './schema/collection-nodes.js';
import type { NamedField } from './schema/schema-node.js';
import type { TaupageKeys } from './taupage-config.js';

/**
 * THE schema of taupage.yaml: every key of the original Taupage (groups A–K of
 * ../shared/reference/taupage-original.md §2), the renamed, removed and wished-for ones (L, M),
 * each with its type, default, meaning and status. Validation, the typed config, the JSON Schema
 * (`taupage schema`) and docs/configuration.md are all generated from it.
 */

export interface KeyGroup {
  readonly id: string;
  readonly title: string;
  readonly fields: readonly NamedField[];
  readonly ignored: readonly IgnoredKey[];
}

const THIRD_PARTY = IGNORED_KEYS.filter((key) => key.kind === 'third-party');
const HISTORIC = IGNORED_KEYS.filter(
  (key) => key.kind === 'renamed' || key.kind === 'removed' || key.kind === 'obsolete',
);
const UNMERGED = IGNORED_KEYS.filter((key) => key.kind === 'unmerged');

const values = (fields: object): NamedField[] =>
  Object.entries(fields as Record<string, FieldSpec<unknown>>).map(([name, spec]) => ({ name, spec }));

/** In the order docs/configuration.md lists them. */
export const KEY_GROUPS: readonly KeyGroup[] = [
  { id: 'A', title: 'Identity and container runtime', fields: values(RUNTIME_FIELDS), ignored: [] },
  { id: 'B', title: 'Credentials and tokens', fields: values(CREDENTIAL_FIELDS), ignored: [] },
  { id: 'C', title: 'Logging', fields: values(LOGGING_FIELDS), ignored: [] },
  { id: 'D', title: 'Metrics', fields: values(METRICS_FIELDS), ignored: [] },
  { id: 'E', title: 'SSH', fields: values(SSH_FIELDS), ignored: [] },
  { id: 'F', title: 'Disks', fields: values(DISK_FIELDS), ignored: [] },
  { id: 'G', title: 'Networking', fields: values(NETWORK_FIELDS), ignored: [] },
  { id: 'H', title: 'OS tuning', fields: values(OS_FIELDS), ignored: [] },
  { id: 'I', title: 'Health, notification, lifecycle', fields: values(LIFECYCLE_FIELDS), ignored: [] },
  { id: 'J', title: 'Third-party agents (accepted, ignored)', fields: [], ignored: THIRD_PARTY },
  {
    id: 'L',
    title: 'Renamed, removed and obsolete keys (warned about, ignored)',
    fields: [],
    ignored: HISTORIC,
  },
  { id: 'M', title: 'Never part of Taupage (warned about, ignored)', fields: [], ignored: UNMERGED },
];

const FIELDS: FieldSpecs<TaupageKeys> = {
  ...RUNTIME_FIELDS,
  ...CREDENTIAL_FIELDS,
  ...LOGGING_FIELDS,
  ...METRICS_FIELDS,
  ...SSH_FIELDS,
  ...DISK_FIELDS,
  ...NETWORK_FIELDS,
  ...OS_FIELDS,
  ...LIFECYCLE_FIELDS,
};

export const UNKNOWN_KEY_WARNING = 'is not a TaupageConfig key; ignored';

export const TAUPAGE_SCHEMA: ObjectNode<TaupageKeys> = objectNode<TaupageKeys>({
  docType: 'map of TaupageConfig keys',
  fields: FIELDS,
  ignored: IGNORED_KEYS,
  unknownKey: UNKNOWN_KEY_WARNING,
  warnPlanned: true,
  check(value, _raw, path, context) {
    if (value.networking === 'host' && value.ports.length > 0)
      context.warning(
        [...path, 'ports'],
        'are not published with networking: host (the container uses the host’s ports); they only pick the health-check port',
      );
    return value;
  },
});

/** The status of a top-level key: whether the agent acts on it. Unknown keys are not acted on. */
export function isSupportedKey(key: string): boolean {
  const spec = TAUPAGE_SCHEMA.fieldList.find((candidate) => candidate.key === key);
  return spec !== undefined && (spec.doc.status ?? 'supported') === 'supported';
}
