import { listNode, mapNode, mapped } from '../schema/collection-nodes.js';
import { field, objectNode, optional, required, type FieldSpecs } from '../schema/object-nodes.js';
import { absolutePathNode, booleanNode, enumNode, integerNode, stringNode } from '../schema/scalar-nodes.js';
import { INVALID, type SchemaNode } from '../schema/schema-node.js';
import { isTemplateValue } from '../schema/template-values.js';
import type { MountOptions, RaidArray, TaupageKeys, VolumeOptions } from '../taupage-config.js';

const SINCE = '0.2';
const RAID_LEVELS = [0, 1, 4, 5, 6, 10];

function deviceNode(): SchemaNode<string> {
  return stringNode({
    docType: 'device path (`/dev/xvdf`)',
    check: (text) =>
      /^\/dev\/[A-Za-z0-9/_.-]+$/.test(text) ? undefined : 'expected a device path such as /dev/xvdf',
  });
}

/** `volumes.ebs` values: the EBS volume's Name tag. Tools like planb fill a null in just before launch. */
function ebsNameNode(): SchemaNode<string | undefined> {
  const name = stringNode({ docType: 'EBS volume Name tag' });
  return {
    docType: name.docType,
    read(value, path, context) {
      if (value !== null && value !== undefined) return name.read(value, path, context);
      if (context.template) {
        context.warning(
          path,
          'has no volume Name tag (the tool writing the user data must fill it in); nothing is attached',
          'key',
        );
        return undefined;
      }
      context.error(path, 'expected the Name tag of an EBS volume to attach, found nothing (null)', 'key');
      return INVALID;
    },
    jsonSchema: () => ({ anyOf: [name.jsonSchema(), { type: 'null' }] }),
  };
}

function raidNode(): SchemaNode<RaidArray> {
  return objectNode<RaidArray>({
    docType: 'map `{level, devices}`',
    unknownKey: 'is not a RAID option (level, devices); ignored',
    fields: {
      level: required(
        'level',
        integerNode({ min: 0, max: 10, docType: 'RAID level (0, 1, 4, 5, 6, 10)' }),
        { meaning: 'mdadm RAID level.', since: SINCE },
        'level: 0',
      ),
      devices: required(
        'devices',
        listNode(deviceNode(), { docType: 'list of device paths' }),
        { meaning: 'Member devices (at least 2).', since: SINCE },
        'devices: [/dev/xvdb, /dev/xvdc]',
      ),
    },
    check(value, _raw, path, context) {
      let ok = true;
      if (!RAID_LEVELS.includes(value.level)) {
        context.error(
          [...path, 'level'],
          `expected a RAID level (0, 1, 4, 5, 6 or 10), found number ${value.level}`,
        );
        ok = false;
      }
      if (value.devices.length < 2) {
        context.error(
          [...path, 'devices'],
          `expected at least 2 devices for a RAID array, found ${value.devices.length}`,
        );
        ok = false;
      }
      return ok ? value : INVALID;
    },
  });
}

function volumesNode(): SchemaNode<VolumeOptions> {
  return objectNode<VolumeOptions>({
    docType: 'map `{ebs, raid}`',
    unknownKey:
      'is not a volumes key (ebs, raid); ignored (the 2015 shape `Name: device` is now `ebs: {device: Name}`)',
    fields: {
      ebs: field(
        'ebs',
        mapNode(ebsNameNode(), {
          docType: 'map `device: EBS Name tag`',
          key: (key, path, context) => deviceNode().read(key, path, context),
        }),
        new Map(),
        {
          meaning:
            'Attach the available EBS volume with this Name tag (same AZ) at the device; `${local_ipv4}` and `${public_ipv4}` are substituted.',
          since: SINCE,
          defaultText: '—',
        },
      ),
      raid: field(
        'raid',
        mapNode(raidNode(), {
          docType: 'map `md device: {level, devices}`',
          entryName: '<md device>',
          key: (key, path, context) => deviceNode().read(key, path, context),
        }),
        new Map(),
        {
          meaning: 'Software RAID arrays built with mdadm from attached devices.',
          since: SINCE,
          defaultText: '—',
        },
      ),
    },
  });
}

type MountEntry = Omit<MountOptions, 'path'>;

function mountEntryNode(): SchemaNode<MountEntry> {
  const entry = objectNode<MountEntry>({
    docType: 'map `{partition, filesystem, erase_on_boot, options}`',
    unknownKey: 'is not a mount option (partition, filesystem, erase_on_boot, options); ignored',
    fields: {
      partition: optional(
        'partition',
        {
          ...deviceNode(),
          docType: 'device path, or `none`',
          read(value, path, context) {
            if (typeof value === 'string' && value.trim().toLowerCase() === 'none') return undefined;
            return deviceNode().read(value, path, context);
          },
        } satisfies SchemaNode<string | undefined>,
        {
          meaning: 'Device to mount (`none` for tmpfs). Without it, /mounts<path> is only bind-mounted.',
          since: SINCE,
          defaultText: 'none',
        },
      ),
      filesystem: field(
        'filesystem',
        enumNode(['ext4', 'ext3', 'ext2', 'xfs', 'btrfs', 'tmpfs'] as const),
        'ext4',
        {
          meaning: 'Filesystem to format with (and check before mounting).',
          since: SINCE,
        },
      ),
      eraseOnBoot: optional('erase_on_boot', booleanNode(), {
        meaning:
          '`true` formats on **every** boot, `false` never; absent formats once, when the volume is tagged `Taupage:erase-on-boot=True`. A device without any filesystem is always formatted.',
        since: SINCE,
        defaultText: 'absent',
      }),
      options: optional('options', stringNode({ docType: 'mount options (`noatime,nodiratime`)' }), {
        meaning: 'Mount options (`mount -o`).',
        since: SINCE,
        defaultText: 'none',
      }),
    },
    ignored: [
      {
        key: 'devices',
        kind: 'removed',
        warning:
          'belongs to the 2015 mounts shape and has been ignored since; use volumes.raid and partition',
        doc: { meaning: 'Devices of a mount (2015 docs).', since: SINCE },
      },
      {
        key: 'raid_mode',
        kind: 'removed',
        warning: 'belongs to the 2015 mounts shape and has been ignored since; use volumes.raid',
        doc: { meaning: 'RAID level of a mount (2015 docs).', since: SINCE },
      },
    ],
  });
  return {
    ...entry,
    // `/data:` with nothing: only the bind mount of an empty host directory.
    read: (value, path, context) => entry.read(value ?? {}, path, context),
  };
}

/** Group F: disks. */
export const DISK_FIELDS = {
  volumes: field('volumes', volumesNode(), Object.freeze({ ebs: new Map(), raid: new Map() }), {
    meaning: 'EBS volumes to attach and RAID arrays to build before mounting.',
    since: SINCE,
    defaultText: '—',
  }),
  mounts: field(
    'mounts',
    mapped(
      mapNode(mountEntryNode(), {
        docType: 'map `container path: {partition, filesystem, erase_on_boot, options}`',
        entryName: '<path>',
        key(key, path, context) {
          if (context.template && isTemplateValue(key)) return key;
          return absolutePathNode('container path').read(key, path, context);
        },
      }),
      (entries): readonly MountOptions[] =>
        Object.freeze([...entries].map(([path, entry]) => Object.freeze({ path, ...entry }))),
    ),
    [],
    {
      meaning:
        'Filesystems mounted at /mounts<path> on the host and bind-mounted at <path> in the container.',
      since: SINCE,
      defaultText: '—',
    },
  ),
} satisfies Partial<FieldSpecs<TaupageKeys>>;
