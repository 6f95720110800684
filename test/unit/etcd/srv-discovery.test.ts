import type { SrvRecord } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { discoverEtcdPeers, type SrvResolver } from '../../../src/etcd/srv-discovery.js';

/** Fixed DNS answers: SRV records for the one discovery name, an A record per target. */
function answering(records: SrvRecord[], addresses: Record<string, string>): SrvResolver {
  return {
    resolveSrv: () => Promise.resolve(records),
    resolve4: (name) => Promise.resolve(addresses[name] === undefined ? [] : [addresses[name]]),
  };
}

describe('discoverEtcdPeers', () => {
  it('breaks priority and weight ties by target name in code-unit order (no locale collation), then port', async () => {
    const srv = (name: string, port = 2380): SrvRecord => ({ name, port, priority: 0, weight: 10 });
    const resolver = answering(
      [
        srv('etcd-b.example.org'),
        srv('etcd-a.example.org', 2381),
        srv('Etcd-c.example.org'),
        srv('etcd-a.example.org'),
      ],
      {
        'etcd-a.example.org': '10.0.0.1',
        'etcd-b.example.org': '10.0.0.2',
        'Etcd-c.example.org': '10.0.0.3',
      },
    );
    // localeCompare would put Etcd-c last (a < b < B); code units put upper case first.
    await expect(discoverEtcdPeers('example.org', resolver)).resolves.toEqual([
      'http://10.0.0.3:2380',
      'http://10.0.0.1:2380',
      'http://10.0.0.1:2381',
      'http://10.0.0.2:2380',
    ]);
  });
});
