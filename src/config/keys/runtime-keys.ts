import { listNode, mapNode, anyKey } from '../schema/collection-nodes.js';
import { field, objectNode, optional, required, type FieldSpecs } from '../schema/object-nodes.js';
import {
  booleanNode,
  decimalNode,
  enumNode,
  found,
  integerNode,
  secretTextNode,
  sizeNode,
  stringNode,
  TEMPLATE_REF,
} from '../schema/scalar-nodes.js';
import { INVALID, type SchemaNode } from '../schema/schema-node.js';
import { isTemplateValue } from '../schema/template-values.js';
import type { DockerOptions, NetworkMode, TaupageKeys } from '../taupage-config.js';
import { applicationVersionNode, environmentNode, imageNode, portsNode } from './container-nodes.js';
import { dockercfgNode } from './dockercfg-nodes.js';

// Kio's application id rule, which Senza also enforces. The original agent never checked it.
const APPLICATION_ID = /^[a-z][a-z0-9-]*[a-z0-9]$/;

// Linux capabilities Docker knows (capabilities(7)), without the CAP_ prefix.
const CAPABILITIES = new Set(
  (
    'ALL AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND BPF CHECKPOINT_RESTORE CHOWN DAC_OVERRIDE ' +
    'DAC_READ_SEARCH FOWNER FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE MAC_ADMIN MAC_OVERRIDE ' +
    'MKNOD NET_ADMIN NET_BIND_SERVICE NET_BROADCAST NET_RAW PERFMON SETFCAP SETGID SETPCAP SETUID ' +
    'SYS_ADMIN SYS_BOOT SYS_CHROOT SYS_MODULE SYS_NICE SYS_PACCT SYS_PTRACE SYS_RAWIO SYS_RESOURCE ' +
    'SYS_TIME SYS_TTY_CONFIG SYSLOG WAKE_ALARM'
  ).split(' '),
);

function capabilityNode(): SchemaNode<string> {
  return stringNode({
    docType: 'capability name',
    normalise: (text) => text.trim().toUpperCase().replace(/^CAP_/, ''),
    check: (text) =>
      CAPABILITIES.has(text.trim().toUpperCase().replace(/^CAP_/, ''))
        ? undefined
        : 'expected a Linux capability name such as NET_ADMIN or SYS_PTRACE',
  });
}

function capabilitiesNode(): SchemaNode<readonly string[]> {
  return listNode(capabilityNode(), {
    docType: 'list of capability names (without `CAP_`)',
    // The original iterated a string per character (--cap-add=N --cap-add=E …).
    scalarHint: (item) =>
      typeof item === 'string'
        ? `write it as a list: [${item
            .split(/[\s,]+/)
            .filter(Boolean)
            .join(', ')}]`
        : 'write it as a list',
  });
}

function networkingNode(): SchemaNode<NetworkMode> {
  const words = ['bridge', 'host', 'none'] as const;
  return {
    docType: '`bridge` | `host` | `none` | `container:<name>`',
    read(value, path, context) {
      if (context.template && isTemplateValue(value)) {
        context.unchecked(path, 'bridge, host, none or container:<name>');
        return INVALID;
      }
      if (typeof value === 'string') {
        const text = value.trim();
        const word = words.find((candidate) => candidate === text.toLowerCase());
        if (word !== undefined) return word;
        if (text.toLowerCase() === 'default') return 'bridge';
        if (/^container:[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(text)) return text as `container:${string}`;
      }
      context.error(path, `expected bridge, host, none or container:<name>, found ${found(value, path)}`);
      return INVALID;
    },
    jsonSchema: () => ({
      anyOf: [{ enum: [...words, 'default'] }, { type: 'string', pattern: '^container:.+' }, TEMPLATE_REF],
    }),
  };
}

/** Docker's floor for `--memory` ("Minimum memory limit allowed is 6MB"). */
const DOCKER_MIN_MEMORY_BYTES = 6 * 1024 * 1024;

function dockerOptionsNode(): SchemaNode<DockerOptions> {
  const since = '0.2';
  return objectNode<DockerOptions>({
    docType: 'map of Docker options',
    unknownKey: 'is not a docker option; ignored',
    fields: {
      logDriver: optional(
        'log_driver',
        stringNode({
          docType: 'Docker log driver name',
          check: (t) =>
            /^[a-z0-9][a-z0-9_.-]*$/i.test(t)
              ? undefined
              : 'expected a log driver name such as json-file or awslogs',
        }),
        {
          meaning:
            'Docker log driver (`local`, `json-file`, `awslogs`, `gelf`, …) for the container’s output. Only `local`, `json-file` and `journald` (which `docker logs` reads) keep the output readable by the log shipper.',
          since,
          defaultText: '`local`, 5 × 50m',
        },
      ),
      logOptions: field(
        'log_opt',
        mapNode(secretTextNode(), { docType: 'map `option: value`', key: anyKey }),
        new Map(),
        {
          meaning:
            'Options of the log driver (`--log-opt`); values may be `aws:kms:`. With `local` or `json-file` they adjust the bounded defaults (`max-size: 50m`, `max-file: 5`).',
          since,
        },
      ),
      stopTimeoutSeconds: optional('stop_timeout', integerNode({ min: 0, max: 3600, docType: 'seconds' }), {
        meaning:
          'Seconds between SIGTERM and SIGKILL when the container is stopped; Docker itself honours it (`docker stop`, daemon shutdown).',
        since,
        defaultText: 'Docker default (10)',
      }),
      memory: optional('memory', sizeNode(), {
        meaning: 'Hard memory limit of the container (at least 6m, Docker’s minimum).',
        since,
        defaultText: 'unlimited',
      }),
      memoryReservation: optional('memory_reservation', sizeNode(), {
        meaning: 'Soft memory limit of the container (not above `memory`).',
        since,
        defaultText: 'none',
      }),
      cpus: optional('cpus', decimalNode({ min: 0.01, max: 1024, docType: 'number of CPUs (`1.5`)' }), {
        meaning: 'CPU limit of the container (Docker refuses more than the host has).',
        since,
        defaultText: 'unlimited',
      }),
      cpuShares: optional('cpu_shares', integerNode({ min: 2, max: 262144 }), {
        meaning: 'Relative CPU weight of the container.',
        since,
        defaultText: 'Docker default (1024)',
      }),
    },
    // Docker refuses both at create time; saying so here names the key instead of failing the boot.
    check(value, _raw, path, context) {
      if (value.memory !== undefined && value.memory < DOCKER_MIN_MEMORY_BYTES) {
        context.error([...path, 'memory'], 'expected at least 6m (Docker’s minimum memory limit)');
        return INVALID;
      }
      if (
        value.memory !== undefined &&
        value.memoryReservation !== undefined &&
        value.memoryReservation > value.memory
      ) {
        context.error([...path, 'memory_reservation'], 'expected a soft limit not above docker.memory');
        return INVALID;
      }
      return value;
    },
    ignored: [
      {
        key: 'container_name',
        kind: 'ignored',
        warning: 'is set by the agent (--container-name, taupageapp by default); ignored',
        doc: { meaning: 'Container name (ImmobilienScout24 fork).', since },
      },
    ],
  });
}

const SINCE_SKELETON = '0.1';
const SINCE = '0.2';

/** Group A: identity, container runtime and Docker options. */
export const RUNTIME_FIELDS = {
  runtime: required(
    'runtime',
    enumNode(['Docker'] as const, { caseSensitive: true }),
    { meaning: 'The runtime; `Docker` is the only one.', since: SINCE_SKELETON },
    'runtime: Docker',
  ),
  source: required(
    'source',
    imageNode(),
    {
      meaning:
        'The image. `latest`, `*SNAPSHOT*` (any case) and a missing tag are rejected (tags must be immutable) unless the AMI’s tag policy (`--mutable-tags warn|allow`) accepts them; digests always pass. Without a registry, Docker Hub is assumed (with a warning).',
      since: SINCE_SKELETON,
    },
    'the Docker image, e.g. registry.example.org/team/app:1.0',
  ),
  applicationId: optional(
    'application_id',
    stringNode({
      docType: 'string (kio id)',
      check: (text) =>
        APPLICATION_ID.test(text)
          ? undefined
          : 'expected a kio application id (lowercase letters, digits and dashes)',
      checkWarns: true,
    }),
    {
      meaning:
        '`APPLICATION_ID` in the container and a container label. Senza defaults it to the stack name.',
      since: SINCE_SKELETON,
    },
  ),
  applicationVersion: optional('application_version', applicationVersionNode(), {
    meaning:
      '`APPLICATION_VERSION` in the container and a container label. A value YAML read as a number gets a warning: quote it.',
    since: SINCE_SKELETON,
  }),
  environment: field('environment', environmentNode(), [], {
    meaning:
      'Container environment. Values starting `aws:kms:` are decrypted at boot. Other scalars become text (`true`, `42`); `NAME:` with no value is left out with a warning; lists and maps are errors.',
    since: SINCE_SKELETON,
    defaultText: '`{}`',
  }),
  ports: field('ports', portsNode(), [], {
    meaning:
      'Published ports (numbers or numeric strings). The lowest TCP host port is the default health-check port.',
    since: SINCE_SKELETON,
    defaultText: '`{}`',
  }),
  root: field('root', booleanNode(), false, {
    meaning: 'Run as the image’s user instead of the `application` user (999:999).',
    since: SINCE_SKELETON,
  }),
  privileged: field('privileged', booleanNode(), false, {
    meaning: 'Run the container privileged (`--privileged`).',
    since: SINCE,
  }),
  readOnly: field('read_only', booleanNode(), false, {
    meaning:
      'Read-only root filesystem (`--read-only`), as the original: no writable /tmp is added; use a `mounts:` entry (e.g. tmpfs) for scratch space.',
    since: SINCE,
  }),
  shmSize: optional('shm_size', sizeNode(), {
    meaning: 'Size of /dev/shm (`--shm-size`).',
    since: SINCE,
    defaultText: 'Docker default (64m)',
  }),
  hostname: optional(
    'hostname',
    stringNode({
      docType: 'hostname',
      check: (text) =>
        /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$/.test(text)
          ? undefined
          : 'expected a hostname (letters, digits, dots and dashes)',
      checkWarns: true,
    }),
    {
      meaning: 'Container hostname (`--hostname`). Not with `networking: container:<name>`.',
      since: SINCE,
      defaultText: 'the container id',
    },
  ),
  networking: field('networking', networkingNode(), 'bridge', {
    meaning:
      'Docker network mode (`--net`). With `host` or `none`, `ports` are not published (a warning) but still pick the health-check port; with `container:<name>` they are an error.',
    since: SINCE,
  }),
  capabilitiesAdd: field('capabilities_add', capabilitiesNode(), [], {
    meaning: 'Capabilities to add (`--cap-add`). A string instead of a list is an error.',
    since: SINCE,
    defaultText: '`[]`',
  }),
  capabilitiesDrop: field('capabilities_drop', capabilitiesNode(), [], {
    meaning: 'Capabilities to drop (`--cap-drop`).',
    since: SINCE,
    defaultText: '`[]`',
  }),
  dockerDaemonAccess: field('docker_daemon_access', booleanNode(), false, {
    meaning:
      'Bind the Docker engine’s socket (/var/run/docker.sock) into the container; only the socket (the original also bound the host’s docker binary and libraries). The app needs `root: true` or the socket’s group to use it.',
    since: SINCE,
  }),
  mountVarLog: field('mount_var_log', booleanNode(), false, {
    meaning: 'Mount the host’s /var/log read-only at /var/log-host.',
    since: SINCE,
  }),
  mountCustomLog: field('mount_custom_log', booleanNode(), false, {
    meaning: 'Mount the host’s /var/log-custom at /var/log (shipped and rotated as custom logs).',
    since: SINCE,
  }),
  mountCerts: field('mount_certs', booleanNode(), false, {
    meaning: 'Mount the host’s /etc/ssl/certs read-only.',
    since: SINCE,
  }),
  registryCredentials: field('dockercfg', dockercfgNode(), new Map(), {
    meaning:
      'Basic auth for pulls, per registry host. `auth` may be `aws:kms:`. A credential that cannot work is left out with a warning.',
    since: SINCE_SKELETON,
    defaultText: '—',
  }),
  shutdown: field(
    'shutdown',
    enumNode(['never', 'on-exit', 'on-success'] as const, {
      legacy: (value) =>
        value === false
          ? { value: 'never', warning: 'read false as never (write shutdown: never)' }
          : undefined,
      legacySchema: { const: false },
    }),
    'never',
    {
      meaning:
        'Batch mode: power the instance off when the container exits and Docker will not restart it (`on-exit`), or only when it exited 0 (`on-success`).',
      since: SINCE,
    },
  ),
  docker: field(
    'docker',
    dockerOptionsNode(),
    Object.freeze({
      logDriver: undefined,
      logOptions: new Map(),
      stopTimeoutSeconds: undefined,
      memory: undefined,
      memoryReservation: undefined,
      cpus: undefined,
      cpuShares: undefined,
    }),
    {
      meaning: 'Docker options the original never had (log driver, stop timeout, limits).',
      since: SINCE,
      defaultText: '—',
    },
  ),
  imagePullPolicy: field(
    'image_pull_policy',
    enumNode(['if-not-present', 'always', 'never'] as const, {
      aliases: { IfNotPresent: 'if-not-present', Always: 'always', Never: 'never' },
    }),
    'if-not-present',
    {
      meaning: 'When to pull `source`: only when missing, on every boot, or never (the AMI has it).',
      since: SINCE,
      status: 'planned',
    },
  ),
} satisfies Partial<FieldSpecs<TaupageKeys>>;
