import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import type { CommandResult } from '../../../src/host/disks/run-command.js';
import { applyNatGatewayRouting, natRoutingSteps } from '../../../src/host/nat-gateway-routing.js';
import { renderSysctlDropIn, sysctlPath } from '../../../src/host/sysctl-settings.js';

const log = createLogger({ level: 'silent', redactor: new Redactor() });

describe('natRoutingSteps', () => {
  it('builds the original’s rules as argv arrays, checking before adding, S3 exempt before the mark', () => {
    const steps = natRoutingSteps('10.0.1.5', ['52.219.0.0/20']);
    expect(steps.map((s) => [s.check?.argv.join(' '), s.apply.join(' ')])).toEqual([
      [
        'iptables -w -t mangle -C OUTPUT -p tcp ! -d 172.16.0.0/12 --dport 443 -j MARK --set-mark 443',
        'iptables -w -t mangle -A OUTPUT -p tcp ! -d 172.16.0.0/12 --dport 443 -j MARK --set-mark 443',
      ],
      [
        'iptables -w -t mangle -C OUTPUT -d 52.219.0.0/20 -p tcp --dport 443 -j RETURN',
        'iptables -w -t mangle -I OUTPUT 1 -d 52.219.0.0/20 -p tcp --dport 443 -j RETURN',
      ],
      ['ip -4 rule show', 'ip -4 rule add fwmark 443 lookup 150'],
      [undefined, 'ip -4 route replace default via 10.0.1.5 table 150'],
    ]);
  });

  it('recognises the rule in `ip rule show` by table id or name', () => {
    const rule = natRoutingSteps('10.0.1.5')[1];
    const shown = (stdout: string): boolean | undefined =>
      rule?.check?.inPlace({ exitCode: 0, stdout, stderr: '' });
    expect(shown('0:\tfrom all lookup local\n32765:\tfrom all fwmark 0x1bb lookup https\n')).toBe(true);
    expect(shown('32765:\tfrom all fwmark 0x1bb lookup 150 \n')).toBe(true);
    expect(shown('32765:\tfrom all fwmark 0x1bb lookup 1500\n32766:\tfrom all lookup main\n')).toBe(false);
  });

  it('refuses a gateway that is not an IPv4 address', () => {
    expect(() => natRoutingSteps('10.0.1.5; reboot')).toThrow(
      /nat_gateways: 10\.0\.1\.5; reboot is not an IPv4 address/,
    );
  });

  it('runs nothing when the key is empty or this subnet is not listed', async () => {
    const ran: string[] = [];
    const run = (file: string, args: readonly string[]): Promise<CommandResult> => {
      ran.push([file, ...args].join(' '));
      return Promise.resolve({ exitCode: 0, stdout: '', stderr: '' });
    };
    const signal = AbortSignal.timeout(1_000);
    expect(
      await applyNatGatewayRouting({ natGateways: new Map(), subnetId: 'subnet-1' }, { run, log }, signal),
    ).toBe('not-configured');
    expect(
      await applyNatGatewayRouting(
        { natGateways: new Map([['subnet-2', '10.0.0.1']]), subnetId: 'subnet-1' },
        { run, log },
        signal,
      ),
    ).toBe('subnet-not-listed');
    expect(ran).toEqual([]);
  });
});

describe('sysctl naming and drop-in', () => {
  it('maps names to /proc/sys files the way sysctl(8) does', () => {
    expect(sysctlPath('vm.swappiness')).toBe('/proc/sys/vm/swappiness');
    expect(sysctlPath('net/ipv4/conf/eth0.100/forwarding', '/x')).toBe(
      '/x/net/ipv4/conf/eth0.100/forwarding',
    );
  });

  it('writes one `name = value` line per key in config order', () => {
    expect(
      renderSysctlDropIn(
        new Map([
          ['vm.swappiness', '1'],
          ['fs.file-max', '100000'],
        ]),
      ),
    ).toBe(
      '# Written by taupage from the TaupageConfig key sysctl at every boot; edits are lost.\nvm.swappiness = 1\nfs.file-max = 100000\n',
    );
  });
});
