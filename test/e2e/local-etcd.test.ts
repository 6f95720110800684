import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsSrvEmulator } from '../emulators/dns-srv-emulator.js';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { EtcdServer } from '../integration/etcd/etcd-server.js';
import { AgentProcess } from '../support/agent-process.js';
import { env, eventually, freePort } from '../support/test-env.js';

// The built agent runs the instance-local etcd of etcd_discovery_domain as the original did: an
// etcd proxy to the cluster the domain's DNS SRV records name (a real etcd cluster and a DNS
// server of the test's own, both on ephemeral ports), listening on loopback and on the Docker
// bridge's address, so the app reaches it with ETCD_URL and the heartbeat lands in the cluster.
// The listen port is picked free (the original's :2379 would clash between parallel runs).
const docker = new Docker();
const zone = `e2e-${randomBytes(4).toString('hex')}.taupage.test`;
const containerName = `taupage-e2e-letcd-${randomBytes(4).toString('hex')}`;
const instanceKey = '/taupage/ip-10-0-0-10.eu-central-1.compute.internal';
let dns: DnsSrvEmulator;
let cluster: EtcdServer;
let imds: ImdsEmulator;
let agent: AgentProcess;
let workDir: string;
let etcdUrl: string;
let metricsUrl: string;

beforeAll(async () => {
  [dns, cluster] = await Promise.all([DnsSrvEmulator.start(zone), EtcdServer.start()]);
  dns.setSrv(`_etcd-server._tcp.${zone}`, [{ target: `node-1.${zone}`, port: cluster.peerPort }]);
  dns.setA(`node-1.${zone}`, ['127.0.0.1']);
  workDir = await mkdtemp(join(tmpdir(), 'taupage-e2e-letcd-'));
  // The test dockerd's bridge (taupage0): what docker0's 172.17.0.1 is on an instance.
  const bridge = await docker.getNetwork('bridge').inspect();
  const gateway = (bridge as { IPAM: { Config: { Gateway: string }[] } }).IPAM.Config[0]?.Gateway;
  if (gateway === undefined) throw new Error('the test dockerd’s bridge has no gateway address');
  const port = await freePort();
  etcdUrl = `http://${gateway}:${port}`;
  const hostPort = await freePort();
  imds = await ImdsEmulator.start({
    userData: [
      '#taupage-ami-config',
      'runtime: Docker',
      'application_id: letcd-app',
      'application_version: "1.0"',
      `source: ${env.image}`,
      `etcd_discovery_domain: ${zone}`,
      'hystrix: ":7979/hystrix.stream"',
      'ports:',
      `  ${hostPort}: 8080`,
      'health_check_path: /health',
      '',
    ].join('\n'),
    identity: { region: 'eu-central-1', instanceId: 'i-0e2e0000000letcd' },
  });
  await writeFile(join(workDir, 'defaults.yaml'), 'root: false\n');
  agent = new AgentProcess(
    [
      'agent',
      '--imds-url',
      imds.url,
      '--status-listen',
      '127.0.0.1:0',
      '--meta-dir',
      join(workDir, 'meta'),
      '--defaults',
      join(workDir, 'defaults.yaml'),
      '--container-name',
      containerName,
    ],
    {
      TAUPAGE_ETCD_BINARY: 'etcd',
      TAUPAGE_ETCD_LISTEN: `http://127.0.0.1:${port},${etcdUrl}`,
      TAUPAGE_ETCD_ENDPOINT: `http://127.0.0.1:${port}`,
      TAUPAGE_ETCD_CONTAINER_URL: etcdUrl,
      TAUPAGE_ETCD_DNS_SERVER: dns.address,
      TAUPAGE_ETCD_DATA_DIR: join(workDir, 'etcd'),
      AWS_ACCESS_KEY_ID: 'AKIDE2ELETCD',
      AWS_SECRET_ACCESS_KEY: 'e2e-letcd-secret',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      AWS_CONFIG_FILE: '/nonexistent',
    },
  );
  metricsUrl = await eventually(
    () =>
      Promise.resolve(
        agent.logLines.find((line) => line.msg === 'Metrics endpoint listening')?.url as string | undefined,
      ),
    'the metrics endpoint to come up',
  );
}, 60_000);

afterAll(async () => {
  await agent.stop();
  await docker
    .getContainer(containerName)
    .remove({ force: true })
    .catch(() => undefined);
  await cluster.stop();
  await dns.stop();
  await imds.close();
  await rm(workDir, { recursive: true, force: true });
}, 60_000);

describe('taupage agent: the instance-local etcd (etcd_discovery_domain)', () => {
  it('runs an etcd proxy found by DNS SRV; the heartbeat through it lands in the cluster', async () => {
    const node = await eventually(() => cluster.get(instanceKey), 'the registration in the cluster', 60_000);
    expect(JSON.parse(node.value)).toMatchObject({
      application_id: 'letcd-app',
      etcd_discovery_domain: zone,
    });
    expect(dns.asked(`_etcd-server._tcp.${zone}`, 'SRV')).toBeGreaterThan(0);
  });

  it('lets the app reach it at ETCD_URL (the bridge address) and read the registrations', async () => {
    const container = docker.getContainer(containerName);
    expect((await container.inspect()).Config.Env).toContain(`ETCD_URL=${etcdUrl}`);
    const read = await eventually(
      async () => {
        const exec = await container.exec({
          Cmd: ['sh', '-c', 'wget -q -O - "$ETCD_URL/v2/keys/taupage"'],
          AttachStdout: true,
          AttachStderr: true,
        });
        const stream = await exec.start({});
        let output = '';
        stream.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
        await new Promise((resolve) => stream.on('end', resolve));
        return output.includes(instanceKey) ? output : undefined;
      },
      'the app reading the registrations through ETCD_URL',
      30_000,
    );
    expect(read).toContain('letcd-app');
  });

  it('shows the local etcd and the heartbeat in /status and the metrics', async () => {
    const etcd = await eventually(async () => {
      const section = (await agent.status()).etcd as
        { registration: { registered: boolean } | null } | null | undefined;
      return section?.registration?.registered === true ? section : undefined;
    }, '/status etcd registered');
    expect(etcd).toMatchObject({
      domain: zone,
      server: {
        mode: 'proxy',
        state: 'running',
        peers: [`http://127.0.0.1:${cluster.peerPort}`],
        starts: 1,
        failures: 0,
      },
      registration: { key: instanceKey, registered: true, healthy: true, failures: 0 },
    });
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toContain(`taupage_etcd_registered{key="${instanceKey}"} 1`);
    expect(metrics).toContain('taupage_etcd_server_up{mode="proxy"} 1');
    expect(metrics).toMatch(/taupage_etcd_heartbeats_total\{outcome="registered"\} [1-9]/);
  });

  it('stops the local etcd with the agent', async () => {
    const pid = ((await agent.status()).etcd as { server: { pid: number } }).server.pid;
    expect(() => process.kill(pid, 0)).not.toThrow();
    await agent.stop();
    await eventually(
      () => {
        try {
          process.kill(pid, 0);
          return Promise.resolve(undefined);
        } catch {
          return Promise.resolve(true);
        }
      },
      'the local etcd to exit',
      10_000,
    );
  });
});
