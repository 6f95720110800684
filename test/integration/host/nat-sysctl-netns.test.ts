import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import { runCommand } from '../../../src/host/disks/run-command.js';
import { applyNatGatewayRouting, fetchS3Prefixes } from '../../../src/host/nat-gateway-routing.js';
import { applySysctl, type CommandRunner } from '../../../src/host/sysctl-settings.js';
import { eventually } from '../../support/test-env.js';

/**
 * Real `ip`, `iptables` and `sysctl` against a kernel, but inside a network namespace of our own
 * (`unshare --net`): nothing here touches the host's routes, rules or net.* parameters.
 */
const log = createLogger({ level: 'silent', redactor: new Redactor() });
let holder: ChildProcess;
let pid: number;
let dir: string;

/** Runs a tool inside the test's network namespace. */
const inNetns: CommandRunner = (file, args, options) =>
  runCommand('nsenter', ['-t', String(pid), '-n', '--', file, ...args], options);
const sh = async (...argv: string[]): Promise<string> => {
  const [file = '', ...args] = argv;
  const result = await inNetns(file, args, { signal: AbortSignal.timeout(10_000), timeoutMs: 10_000 });
  if (result.exitCode !== 0) throw new Error(`${argv.join(' ')}: ${result.stderr}`);
  return result.stdout;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-netns-'));
  holder = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
  pid = holder.pid ?? 0;
  // unshare execs sleep once the namespace exists: wait until the pid's netns differs from ours.
  const ours = await readlink('/proc/self/ns/net');
  await eventually(
    async () => ((await readlink(`/proc/${pid}/ns/net`)) !== ours ? true : undefined),
    'the test network namespace',
  );
  // A link for the NAT gateway's subnet: 10.9.0.1 is reachable on lo's 10.9.0.0/24.
  await sh('ip', 'link', 'set', 'lo', 'up');
  await sh('ip', 'addr', 'add', '10.9.0.2/24', 'dev', 'lo');
});
afterAll(async () => {
  holder.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('nat_gateways policy routing in a network namespace', () => {
  const natGateways = new Map([['subnet-0a1b2c3d', '10.9.0.1']]);

  it('routes marked HTTPS through the NAT gateway, idempotently, with the S3 prefixes exempt', async () => {
    const rtTablesPath = join(dir, 'rt_tables');
    await writeFile(rtTablesPath, '255\tlocal\n254\tmain\n');
    const input = { natGateways, subnetId: 'subnet-0a1b2c3d', s3Prefixes: ['52.219.0.0/20'] };
    const options = { run: inNetns, rtTablesPath, log };

    expect(await applyNatGatewayRouting(input, options, AbortSignal.timeout(20_000))).toBe('routed');
    // The agent restarts without a reboot: nothing is added twice.
    expect(await applyNatGatewayRouting(input, options, AbortSignal.timeout(20_000))).toBe('routed');

    const rules = (await sh('ip', '-4', 'rule', 'show')).split('\n').filter((l) => l.includes('fwmark'));
    expect(rules).toEqual([expect.stringMatching(/from all fwmark 0x1bb lookup 150\s*$/) as unknown]);
    expect((await sh('ip', '-4', 'route', 'show', 'table', '150')).trim()).toBe(
      'default via 10.9.0.1 dev lo',
    );
    expect((await sh('iptables', '-w', '-t', 'mangle', '-S', 'OUTPUT')).trim().split('\n')).toEqual([
      '-P OUTPUT ACCEPT',
      '-A OUTPUT -d 52.219.0.0/20 -p tcp -m tcp --dport 443 -j RETURN',
      '-A OUTPUT ! -d 172.16.0.0/12 -p tcp -m tcp --dport 443 -j MARK --set-xmark 0x1bb/0xffffffff',
    ]);
    // The kernel's routing decision: marked packets go to the NAT gateway, others do not.
    expect(await sh('ip', '-4', 'route', 'get', '93.184.216.34', 'mark', '443')).toMatch(
      /^93\.184\.216\.34 (via 10\.9\.0\.1 )?dev lo table 150 /,
    );
    expect(
      await inNetns('ip', ['-4', 'route', 'get', '93.184.216.34'], {
        signal: AbortSignal.timeout(5_000),
        timeoutMs: 5_000,
      }),
    ).toMatchObject({ exitCode: 2 });
    expect(await readFile(rtTablesPath, 'utf8')).toBe('255\tlocal\n254\tmain\n150\thttps\n');
  });

  it('moves the route when the gateway changed and leaves other subnets alone', async () => {
    const rtTablesPath = join(dir, 'rt_tables-2');
    const moved = new Map([['subnet-0a1b2c3d', '10.9.0.3']]);
    await applyNatGatewayRouting(
      { natGateways: moved, subnetId: 'subnet-0a1b2c3d' },
      { run: inNetns, rtTablesPath, log },
      AbortSignal.timeout(20_000),
    );
    expect((await sh('ip', '-4', 'route', 'show', 'table', '150')).trim()).toBe(
      'default via 10.9.0.3 dev lo',
    );
    expect(
      await applyNatGatewayRouting(
        { natGateways: moved, subnetId: 'subnet-99999999' },
        { run: inNetns, rtTablesPath, log },
        AbortSignal.timeout(5_000),
      ),
    ).toBe('subnet-not-listed');
  });

  it('names the command that failed', async () => {
    const failure = await applyNatGatewayRouting(
      { natGateways: new Map([['subnet-0a1b2c3d', '10.200.0.1']]), subnetId: 'subnet-0a1b2c3d' },
      { run: inNetns, rtTablesPath: join(dir, 'rt_tables-3'), log },
      AbortSignal.timeout(20_000),
    ).catch((error: unknown) => error);
    expect(failure).toMatchObject({
      code: 'HOST_TUNING_FAILED',
      message: expect.stringMatching(
        /^nat_gateways: ip -4 route replace default via 10\.200\.0\.1 table 150 failed \(exit 2\): .+/,
      ) as unknown,
    });
  });

  it("reads the region's S3 prefixes from ip-ranges.json", async () => {
    const server: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          syncToken: '1',
          prefixes: [
            {
              ip_prefix: '52.219.0.0/20',
              region: 'eu-central-1',
              service: 'S3',
              network_border_group: 'eu-central-1',
            },
            {
              ip_prefix: '52.219.0.0/20',
              region: 'eu-central-1',
              service: 'AMAZON',
              network_border_group: 'eu-central-1',
            },
            {
              ip_prefix: '3.5.134.0/23',
              region: 'eu-central-1',
              service: 'S3',
              network_border_group: 'eu-central-1',
            },
            {
              ip_prefix: '52.92.0.0/17',
              region: 'us-east-1',
              service: 'S3',
              network_border_group: 'us-east-1',
            },
          ],
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ip-ranges.json`;
      expect(await fetchS3Prefixes('eu-central-1', AbortSignal.timeout(5_000), url)).toEqual([
        '3.5.134.0/23',
        '52.219.0.0/20',
      ]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('sysctl in a network namespace', () => {
  const hostValue = async (): Promise<string> =>
    (await readFile('/proc/sys/net/core/somaxconn', 'utf8')).trim();

  it('writes the drop-in and applies it with sysctl -p, without touching the host', async () => {
    const before = await hostValue();
    const dropInPath = join(dir, 'sysctl.d', '99-custom.conf');
    const wanted = before === '1234' ? '1235' : '1234';
    const settings = new Map([
      ['net.core.somaxconn', wanted],
      ['net/ipv4/ip_forward', '1'],
    ]);
    await applySysctl(settings, { dropInPath, run: inNetns, log }, AbortSignal.timeout(10_000));
    expect(await readFile(dropInPath, 'utf8')).toBe(
      `# Written by taupage from the TaupageConfig key sysctl at every boot; edits are lost.\nnet.core.somaxconn = ${wanted}\nnet/ipv4/ip_forward = 1\n`,
    );
    expect((await sh('cat', '/proc/sys/net/core/somaxconn')).trim()).toBe(wanted);
    expect((await sh('cat', '/proc/sys/net/ipv4/ip_forward')).trim()).toBe('1');
    expect(await hostValue()).toBe(before);
  });

  it('fails with the key the kernel refused', async () => {
    const failure = await applySysctl(
      new Map([['net.core.somaxconn', 'lots']]),
      { dropInPath: join(dir, 'refused.conf'), run: inNetns, log },
      AbortSignal.timeout(10_000),
    ).catch((error: unknown) => error);
    expect(failure).toMatchObject({
      code: 'SYSCTL_INVALID',
      message: 'sysctl.net.core.somaxconn: the kernel refused "lots" (Invalid argument)',
    });
  });

  it('refuses a name that is not a kernel parameter before writing anything', async () => {
    const dropInPath = join(dir, 'unknown.conf');
    const failure = await applySysctl(
      new Map([['net.foo.bar', '1']]),
      { dropInPath, run: inNetns, log },
      AbortSignal.timeout(10_000),
    ).catch((error: unknown) => error);
    expect(failure).toMatchObject({
      code: 'SYSCTL_INVALID',
      message: 'sysctl.net.foo.bar: no such kernel parameter (/proc/sys/net/foo/bar)',
    });
    await expect(readFile(dropInPath)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
