import { APPLICATION_LOG_FIELDS } from './keys/application-log-keys.js';
import { DISCOVERY_FIELDS } from './keys/discovery-keys.js';
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
import { LOGENTRIES_FIELDS } from './keys/logentries-keys.js';
import { LOGGING_FIELDS } from './keys/logging-keys.js';
import { RUNTIME_FIELDS } from './keys/runtime-keys.js';
import { SCALYR_FIELDS } from './keys/scalyr-keys.js';
import {
  objectNode,
  type FieldSpec,
  type FieldSpecs,
  type IgnoredKey,
  type ObjectNode,
} from './schema/object-nodes.js';
import { INVALID, type NamedField } from './schema/schema-node.js';
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
  {
    id: 'C',
    title: 'Logging',
    fields: values({ ...LOGGING_FIELDS, ...SCALYR_FIELDS, ...LOGENTRIES_FIELDS, ...APPLICATION_LOG_FIELDS }),
    ignored: [],
  },
  { id: 'D', title: 'Metrics', fields: values(METRICS_FIELDS), ignored: [] },
  { id: 'E', title: 'SSH', fields: values(SSH_FIELDS), ignored: [] },
  { id: 'F', title: 'Disks', fields: values(DISK_FIELDS), ignored: [] },
  {
    id: 'G',
    title: 'Networking and discovery',
    fields: values({ ...NETWORK_FIELDS, ...DISCOVERY_FIELDS }),
    ignored: [],
  },
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
  ...SCALYR_FIELDS,
  ...LOGENTRIES_FIELDS,
  ...APPLICATION_LOG_FIELDS,
  ...METRICS_FIELDS,
  ...SSH_FIELDS,
  ...DISK_FIELDS,
  ...NETWORK_FIELDS,
  ...DISCOVERY_FIELDS,
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
    if (value.networking === 'none' && value.ports.length > 0)
      context.warning(
        [...path, 'ports'],
        'are not published with networking: none (the container has no network); they only pick the health-check port',
      );
    // Docker refuses both ("conflicting options"): the container shares another one's network.
    if (value.networking.startsWith('container:')) {
      let conflict = false;
      if (value.ports.length > 0) {
        context.error(
          [...path, 'ports'],
          `cannot be published with networking: ${value.networking}; publish them on that container`,
        );
        conflict = true;
      }
      if (value.hostname !== undefined) {
        context.error(
          [...path, 'hostname'],
          `cannot be set with networking: ${value.networking} (the container shares its network)`,
        );
        conflict = true;
      }
      if (conflict) return INVALID;
    }
    // Docker refuses two binds at one path ("Duplicate mount point").
    const taken = new Map<string, string>([['/meta', 'taupage.yaml (/meta)']]);
    if (value.mountVarLog) taken.set('/var/log-host', 'mount_var_log');
    if (value.mountCustomLog) taken.set('/var/log', 'mount_custom_log');
    if (value.mountCerts) taken.set('/etc/ssl/certs', 'mount_certs');
    if (value.dockerDaemonAccess) taken.set('/var/run/docker.sock', 'docker_daemon_access');
    const clashes = value.mounts.filter((mount) => taken.has(mount.path.replace(/(.)\/+$/, '$1')));
    for (const mount of clashes)
      context.error(
        [...path, 'mounts', mount.path],
        `is already mounted by ${taken.get(mount.path.replace(/(.)\/+$/, '$1')) ?? ''}; choose another path`,
        'key',
      );
    return clashes.length > 0 ? INVALID : value;
  },
});

/** The status of a top-level key: whether the agent acts on it. Unknown keys are not acted on. */
export function isSupportedKey(key: string): boolean {
  const spec = TAUPAGE_SCHEMA.fieldList.find((candidate) => candidate.key === key);
  return spec !== undefined && (spec.doc.status ?? 'supported') === 'supported';
}

/**
 * Whether the agent acts on the value at `path`: the top-level key is supported, and so is every
 * nested key of an object on the way (`logging.scalyr_account_key` is planned while `logging`
 * is not). Below a map or list the status is the parent's.
 */
export function isSupportedPath(path: readonly (string | number)[]): boolean {
  const [top, ...rest] = path;
  if (typeof top !== 'string' || !isSupportedKey(top)) return false;
  let nested = TAUPAGE_SCHEMA.fieldList.find((candidate) => candidate.key === top)?.node.nested;
  for (const part of rest) {
    if (nested === undefined || nested.via !== '') return true;
    const spec = nested.fields.find((field) => field.spec.key === part)?.spec;
    if (spec === undefined) return true;
    if ((spec.doc.status ?? 'supported') !== 'supported') return false;
    nested = spec.node.nested;
  }
  return true;
}
