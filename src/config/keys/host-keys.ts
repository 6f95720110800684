import { isIP } from 'node:net';
import { scalarToString } from '../config-values.js';
import { listNode, mapNode, anyKey } from '../schema/collection-nodes.js';
import { field, optional, type FieldSpecs } from '../schema/object-nodes.js';
import {
  booleanNode,
  enumNode,
  found,
  portNode,
  stringNode,
  urlNode,
  TEMPLATE_REF,
  withArticle,
} from '../schema/scalar-nodes.js';
import { INVALID, OMIT, type SchemaNode } from '../schema/schema-node.js';
import { isTemplateValue } from '../schema/template-values.js';
import type { TaupageKeys } from '../taupage-config.js';

const SINCE = '0.2';

// The original's whitelist (init.d/07-update-sysfs.py): anything else was logged and ignored.
export const ALLOWED_SYSFS_PATHS: readonly string[] = ['/sys/kernel/mm/transparent_hugepage/enabled'];

/** A scalar that becomes text (sysctl and sysfs values are written to files as text). */
function scalarTextNode(docType: string): SchemaNode<string> {
  return {
    docType,
    read(value, path, context) {
      if (context.template && isTemplateValue(value)) return typeof value === 'string' ? value : INVALID;
      const text = scalarToString(value);
      if (text === undefined || /[\n\r]/.test(text)) {
        context.error(path, `expected ${withArticle(docType)}, found ${found(value, path)}`);
        return INVALID;
      }
      return text;
    },
    jsonSchema: () => ({ anyOf: [{ type: ['string', 'number', 'boolean'] }, TEMPLATE_REF] }),
  };
}

const SYSCTL_NAME = /^[a-z0-9_][a-z0-9_.\-/]*$/i;

/** Group B: credentials and tokens. */
export const CREDENTIAL_FIELDS = {
  mintBucket: optional(
    'mint_bucket',
    stringNode({
      docType: 'S3 bucket name',
      check: (text) =>
        /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(text) ? undefined : 'expected an S3 bucket name',
      checkWarns: true,
    }),
    {
      meaning:
        'S3 bucket of the app’s OAuth credentials: `<bucket>/<application_id>/{user,client}.json` are downloaded to /meta/credentials (`CREDENTIALS_DIR`) before the container starts, then every 2 minutes (the original’s berry). Read with the instance role, in the instance’s region.',
      since: SINCE,
      defaultText: 'none',
    },
  ),
  tokeninfoUrl: optional('tokeninfo_url', urlNode(), {
    meaning:
      '`TOKENINFO_URL` in the container (usually baked into the AMI defaults); an `environment` TOKENINFO_URL wins. Also set when `local_planb_tokeninfo` is (taupage runs no local token info).',
    since: SINCE,
    defaultText: 'the AMI default',
  }),
  encryptionContext: field(
    'encryption_context',
    mapNode(stringNode({ docType: 'string' }), { docType: 'map `name: value`', key: anyKey }),
    new Map(),
    {
      meaning:
        'KMS encryption context sent with every `aws:kms:` Decrypt: values encrypted with `--encryption-context` need exactly these pairs (KMS answers InvalidCiphertextException otherwise). Never in the original (a fork’s wish); not used by local mode’s dev key.',
      since: SINCE,
      defaultText: 'none',
    },
  ),
} satisfies Partial<FieldSpecs<TaupageKeys>>;

/** Group D: metrics. */
export const METRICS_FIELDS = {
  enhancedCloudwatchMetrics: field('enhanced_cloudwatch_metrics', booleanNode(), false, {
    meaning:
      'Publish memory, swap and disk utilisation to CloudWatch (`System/Linux`, InstanceId dimension) every minute (`--cloudwatch-interval`).',
    since: SINCE,
  }),
} satisfies Partial<FieldSpecs<TaupageKeys>>;

/** Group E: SSH. */
export const SSH_FIELDS = {
  sshPorts: field(
    'ssh_ports',
    listNode(portNode(), {
      docType: 'list of ports',
      single: () =>
        'expected a list of ports; read the single port as a one-item list (write ssh_ports: [N])',
    }),
    [22],
    {
      meaning:
        'Ports of the host’s sshd (move it off 22 when the container needs 22); written as an sshd drop-in, checked with `sshd -t`, then sshd is reloaded.',
      since: SINCE,
      defaultText: '`[22]`',
    },
  ),
  sshGatewayPorts: optional(
    'ssh_gateway_ports',
    enumNode(['yes', 'no', 'clientspecified'] as const, {
      // `yes`/`no` unquoted are YAML booleans, which the original wrote as "GatewayPorts True".
      legacy: (value) =>
        typeof value === 'boolean' ? { value: value ? 'yes' : 'no', warning: undefined } : undefined,
      legacySchema: { type: 'boolean' },
    }),
    {
      meaning: 'sshd `GatewayPorts` (reverse tunnels); `yes`/`clientspecified` also allow remote forwarding.',
      since: SINCE,
      defaultText: 'sshd default (`no`)',
    },
  ),
  keepInstanceUsers: field('keep_instance_users', booleanNode(), false, {
    meaning:
      'Keep the EC2 key pair’s login; otherwise the default cloud user’s authorized_keys is removed at every boot.',
    since: SINCE,
  }),
} satisfies Partial<FieldSpecs<TaupageKeys>>;

/** Group G: networking. */
export const NETWORK_FIELDS = {
  natGateways: field(
    'nat_gateways',
    mapNode(
      stringNode({
        docType: 'IP address',
        check: (text) =>
          isIP(text.trim()) === 4 ? undefined : 'expected the NAT gateway’s private IPv4 address',
      }),
      {
        docType: 'map `subnet-id: NAT gateway IP`',
        key(key, path, context) {
          if (/^subnet-[0-9a-f]{8,17}$/.test(key) || (context.template && isTemplateValue(key))) return key;
          context.error(path, 'expected a subnet id (subnet-0123abcd)', 'key');
          return INVALID;
        },
      },
    ),
    new Map(),
    {
      meaning:
        'Route outbound HTTPS (TCP 443, not to 172.16.0.0/12) through the NAT gateway of this instance’s subnet: iptables mark 443, `ip rule` to table 150 `https` (Senza adds it for DMZ subnets).',
      since: SINCE,
      defaultText: '—',
    },
  ),
} satisfies Partial<FieldSpecs<TaupageKeys>>;

/** Group H: OS tuning. */
export const OS_FIELDS = {
  sysctl: field(
    'sysctl',
    mapNode(scalarTextNode('a sysctl value'), {
      docType: 'map `name: value`',
      key(key, path, context) {
        if (SYSCTL_NAME.test(key)) return key;
        context.error(path, 'expected a sysctl name such as vm.swappiness', 'key');
        return INVALID;
      },
    }),
    new Map(),
    {
      meaning:
        'Kernel parameters, written to /etc/sysctl.d/99-custom.conf and applied with `sysctl -p`. A name that is not in /proc/sys fails the boot.',
      since: SINCE,
      defaultText: '—',
    },
  ),
  sysfs: field(
    'sysfs',
    mapNode(scalarTextNode('a sysfs value'), {
      docType: 'map `path: value`',
      key(key, path, context) {
        if (ALLOWED_SYSFS_PATHS.includes(key)) return key;
        context.warning(
          path,
          `is not an allowed sysfs path (only ${ALLOWED_SYSFS_PATHS.join(', ')}); ignored`,
          'key',
        );
        return OMIT;
      },
    }),
    new Map(),
    {
      meaning: `sysfs values, written at every boot; only ${ALLOWED_SYSFS_PATHS.map((p) => `\`${p}\``).join(', ')} may be set.`,
      since: SINCE,
      defaultText: '—',
    },
  ),
} satisfies Partial<FieldSpecs<TaupageKeys>>;
