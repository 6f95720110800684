import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { EtcdRegistration } from '../../../src/etcd/etcd-registration.js';
import { LocalEtcd } from '../../../src/etcd/local-etcd.js';
import { discoverEtcdPeers, srvResolver } from '../../../src/etcd/srv-discovery.js';
import { DnsSrvEmulator } from '../../emulators/dns-srv-emulator.js';
import { eventually, freePort } from '../../support/test-env.js';
import { EtcdServer } from './etcd-server.js';

// The instance-local etcd the agent runs for etcd_discovery_domain, against real parts: Debian's
// etcd (the cluster and the local proxy or single node) and DNS SRV answers on the wire from the
// test's own DNS server (ephemeral ports everywhere; the names are unique per run).
const log = pino({ level: 'silent' });
const zone = `etcd-${randomBytes(4).toString('hex')}.taupage.test`;
const srvName = `_etcd-server._tcp.${zone}`;
let dns: DnsSrvEmulator;
let cluster: EtcdServer;
let workDir: string;
const running: LocalEtcd[] = [];

beforeAll(async () => {
  [dns, cluster] = await Promise.all([DnsSrvEmulator.start(zone), EtcdServer.start()]);
  workDir = await mkdtemp(join(tmpdir(), 'taupage-local-etcd-'));
  dns.setSrv(srvName, [{ target: `member-1.${zone}`, port: cluster.peerPort }]);
  dns.setA(`member-1.${zone}`, ['127.0.0.1']);
}, 60_000);

afterEach(async () => {
  await Promise.all(running.splice(0).map((etcd) => etcd.stop()));
});

afterAll(async () => {
  await cluster.stop();
  await dns.stop();
  await rm(workDir, { recursive: true, force: true });
}, 30_000);

async function localEtcd(
  domain: string,
  discover = (name: string) => discoverEtcdPeers(name, srvResolver(dns.address)),
) {
  const port = await freePort();
  const etcd = new LocalEtcd({
    binary: 'etcd',
    domain,
    listenUrls: [`http://127.0.0.1:${port}`],
    peerUrl: `http://127.0.0.1:${await freePort()}`,
    dataDir: await mkdtemp(join(workDir, 'data-')),
    name: `test-${port}`,
    discover,
    clock: systemClock,
    log,
  });
  running.push(etcd);
  etcd.start();
  return { etcd, url: `http://127.0.0.1:${port}` };
}

async function put(url: string, key: string, value: string): Promise<Response> {
  return fetch(`${url}/v2/keys${key}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ value }),
    signal: AbortSignal.timeout(2_000),
  });
}

describe('DNS SRV discovery', () => {
  it('finds the cluster’s peers from _etcd-server._tcp.<domain> over the wire', async () => {
    const before = dns.asked(srvName, 'SRV');
    await expect(discoverEtcdPeers(zone, srvResolver(dns.address))).resolves.toEqual([
      `http://127.0.0.1:${cluster.peerPort}`,
    ]);
    expect(dns.asked(srvName, 'SRV')).toBe(before + 1);
    // A root dot in the config is the same domain.
    await expect(discoverEtcdPeers(`${zone}.`, srvResolver(dns.address))).resolves.toHaveLength(1);
  });

  it('orders the members by priority and weight and says what is missing', async () => {
    const other = `other-${zone}`;
    const server = await DnsSrvEmulator.start(other);
    try {
      const resolver = srvResolver(server.address);
      await expect(discoverEtcdPeers(other, resolver)).rejects.toThrow(
        `DNS SRV _etcd-server._tcp.${other}: ENODATA`,
      );
      server.setSrv(`_etcd-server._tcp.${other}`, [
        { target: `b.${other}`, port: 2380, priority: 10 },
        { target: `a.${other}`, port: 2380, priority: 0, weight: 5 },
        { target: `c.${other}`, port: 2381, priority: 0, weight: 50 },
      ]);
      await expect(discoverEtcdPeers(other, resolver)).rejects.toThrow(/no target resolves .*a\./);
      server.setA(`a.${other}`, ['10.0.0.1']);
      server.setA(`b.${other}`, ['10.0.0.2']);
      server.setA(`c.${other}`, ['10.0.0.3']);
      await expect(discoverEtcdPeers(other, resolver)).resolves.toEqual([
        'http://10.0.0.3:2381',
        'http://10.0.0.1:2380',
        'http://10.0.0.2:2380',
      ]);
    } finally {
      await server.stop();
    }
  });
});

describe('LocalEtcd', () => {
  it('runs a v2 proxy to the cluster the domain’s SRV records name; the heartbeat lands in the cluster', async () => {
    const { etcd, url } = await localEtcd(zone);
    await eventually(
      async () => ((await put(url, '/probe', 'x')).ok ? true : undefined),
      'the proxy answering',
    );
    expect(etcd.status()).toMatchObject({
      mode: 'proxy',
      state: 'running',
      peers: [`http://127.0.0.1:${cluster.peerPort}`],
      starts: 1,
      failures: 0,
    });
    // The original's heartbeat, through the local proxy, is in the cluster itself.
    const registration = new EtcdRegistration({
      endpoint: url,
      fqdn: `ip-10-9-8-7.${zone}`,
      value: '{"application_id":"proxied"}',
      isHealthy: () => true,
      clock: systemClock,
      log,
    });
    await registration.beat(new AbortController().signal);
    expect(registration.status()).toMatchObject({ registered: true, beats: 1, failures: 0 });
    const node = await cluster.get(`/taupage/ip-10-9-8-7.${zone}`);
    expect(node?.value).toBe('{"application_id":"proxied"}');
    expect(node?.ttl).toBeLessThanOrEqual(15);
  });

  it('runs a single node with the v2 API for disable, and starts it again when it dies', async () => {
    const { etcd, url } = await localEtcd('disable', () =>
      Promise.reject(new Error('no discovery for disable')),
    );
    await eventually(
      async () => ((await put(url, '/one', '1')).ok ? true : undefined),
      'the single node answering',
    );
    const first = etcd.status();
    expect(first).toMatchObject({ mode: 'single', state: 'running', peers: [], starts: 1 });
    process.kill(first.pid ?? 0, 'SIGKILL');
    await eventually(
      async () => (etcd.status().starts === 2 && (await put(url, '/two', '2')).ok ? true : undefined),
      'the single node started again',
    );
    expect(etcd.status()).toMatchObject({ failures: 1 });
    expect(etcd.status().lastError).toMatch(/signal SIGKILL/);
    // Its data survived the restart (a single node keeps its data dir).
    const kept = await fetch(`${url}/v2/keys/one`);
    expect(((await kept.json()) as { node: { value: string } }).node.value).toBe('1');
    await etcd.stop();
    expect(etcd.status().state).toBe('stopped');
    await expect(fetch(`${url}/v2/keys/one`, { signal: AbortSignal.timeout(1_000) })).rejects.toThrow();
  });

  it('keeps trying while the domain has no SRV records, and proxies once it has', async () => {
    const late = `late-${zone}`;
    const server = await DnsSrvEmulator.start(late);
    try {
      const { etcd, url } = await localEtcd(late, (name) =>
        discoverEtcdPeers(name, srvResolver(server.address)),
      );
      const failing = await eventually(
        () => Promise.resolve(etcd.status().failures > 0 ? etcd.status() : undefined),
        'a failed discovery',
      );
      expect(failing).toMatchObject({ mode: 'proxy', starts: 0 });
      expect(failing.lastError).toBe(`DNS SRV _etcd-server._tcp.${late}: ENODATA`);
      server.setSrv(`_etcd-server._tcp.${late}`, [{ target: `m.${late}`, port: cluster.peerPort }]);
      server.setA(`m.${late}`, ['127.0.0.1']);
      await eventually(
        async () => ((await put(url, '/late', 'y')).ok ? true : undefined),
        'the proxy after DNS came',
      );
      expect((await cluster.get('/late'))?.value).toBe('y');
    } finally {
      await server.stop();
    }
  });

  it('reports a missing etcd binary as a failure, not a crash', async () => {
    const etcd = new LocalEtcd({
      binary: join(workDir, 'no-such-etcd'),
      domain: 'disable',
      listenUrls: [`http://127.0.0.1:${await freePort()}`],
      peerUrl: `http://127.0.0.1:${await freePort()}`,
      dataDir: await mkdtemp(join(workDir, 'data-')),
      name: 'missing',
      discover: () => Promise.resolve([]),
      clock: systemClock,
      log,
    });
    running.push(etcd);
    etcd.start();
    const status = await eventually(
      () => Promise.resolve(etcd.status().failures > 0 ? etcd.status() : undefined),
      'the failed start',
    );
    expect(status.lastError).toMatch(/cannot run .*no-such-etcd: spawn .* ENOENT/);
    expect(status.state).not.toBe('running');
  });
});
