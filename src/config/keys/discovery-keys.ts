import { optional, type FieldSpecs } from '../schema/object-nodes.js';
import { stringNode } from '../schema/scalar-nodes.js';
import type { TaupageKeys } from '../taupage-config.js';

const SINCE = '0.3';

// A DNS domain (`etcd.myteam.example.org`, the corpus also has `etcd.` with its root dot) or
// the original's `disable` (a standalone single-node etcd on the instance).
const DOMAIN = /^(?=.{1,254}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?$/i;

/** Group G: service discovery (etcd). See docs/etcd.md. */
export const DISCOVERY_FIELDS = {
  etcdDiscoveryDomain: optional(
    'etcd_discovery_domain',
    stringNode({
      docType: 'DNS domain, or `disable`',
      check: (text) => (DOMAIN.test(text.trim()) ? undefined : 'expected a DNS domain or disable'),
      normalise: (text) => text.trim(),
    }),
    {
      meaning:
        'Register the instance in etcd: every 5 s while the app is healthy, `PUT /v2/keys/taupage/<fqdn>` (TTL 15) with the config (secrets masked, no `environment`) on the instance-local etcd (`--etcd-endpoint`); `ETCD_URL` (`--etcd-container-url`, the original’s `http://172.17.0.1:2379`) is set in the container. The agent runs that etcd: a v2 proxy to the cluster the domain’s DNS SRV records (`_etcd-server._tcp.<domain>`) name, or a single node for `disable`, on 127.0.0.1:2379 and 172.17.0.1:2379 (`--etcd-listen`). See docs/etcd.md.',
      since: SINCE,
      defaultText: 'none (no etcd)',
    },
  ),
} satisfies Partial<FieldSpecs<TaupageKeys>>;
