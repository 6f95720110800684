import { promises as dns, type SrvRecord } from 'node:dns';

/** The DNS answers discovery needs (node's Resolver fits; tests point one at their own server). */
export interface SrvResolver {
  resolveSrv(name: string): Promise<SrvRecord[]>;
  resolve4(name: string): Promise<string[]>;
}

/** A resolver asking `server` (`IP` or `IP:PORT`), or the system's resolvers when undefined. */
export function srvResolver(server: string | undefined, timeoutMs = 5_000): SrvResolver {
  const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 2 });
  if (server !== undefined) resolver.setServers([server]);
  return resolver;
}

/**
 * The etcd cluster behind `domain`, found the way etcd's `--discovery-srv` finds it: the SRV
 * records `_etcd-server._tcp.<domain>` name the members' peer host and port. Each target is
 * resolved here (A record) and given to etcd as `http://<ip>:<port>`, so etcd needs no DNS of
 * its own. Ordered by priority, then weight (highest first), then name: a stable command line.
 *
 * Why not etcd's own `--discovery-srv`: Debian's etcd 3.4 proxy also requires the
 * `_etcd-server-ssl._tcp` records and then drops the plain-HTTP ones (its GetDNSClusterNames), so
 * it cannot find the plain-HTTP clusters the original's etcd 2.0 proxy found.
 *
 * Throws a one-line error when there are no records or no target resolves.
 */
export async function discoverEtcdPeers(domain: string, resolver: SrvResolver): Promise<string[]> {
  const name = `_etcd-server._tcp.${domain.replace(/\.$/, '')}`;
  let records: SrvRecord[];
  try {
    records = await resolver.resolveSrv(name);
  } catch (error) {
    throw new Error(`DNS SRV ${name}: ${dnsError(error)}`, { cause: error });
  }
  if (records.length === 0) throw new Error(`DNS SRV ${name}: no records`);
  // Names in code-unit order: not localeCompare, whose ICU collator costs the agent ~3 MB of RSS.
  const sorted = [...records].sort(
    (a, b) =>
      a.priority - b.priority ||
      b.weight - a.weight ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
      a.port - b.port,
  );
  const peers: string[] = [];
  const failures: string[] = [];
  for (const record of sorted) {
    try {
      const [address] = await resolver.resolve4(record.name);
      if (address === undefined) throw new Error('no A record');
      const url = `http://${address}:${record.port}`;
      if (!peers.includes(url)) peers.push(url);
    } catch (error) {
      failures.push(`${record.name}: ${dnsError(error)}`);
    }
  }
  if (peers.length === 0) throw new Error(`DNS SRV ${name}: no target resolves (${failures.join('; ')})`);
  return peers;
}

function dnsError(error: unknown): string {
  if (error !== null && typeof error === 'object' && 'code' in error && typeof error.code === 'string')
    return error.code;
  return error instanceof Error ? error.message : String(error);
}
