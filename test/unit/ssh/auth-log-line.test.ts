import { describe, expect, it } from 'vitest';
import { parseAuthLogLine } from '../../../src/ssh/auth-log-watcher.js';
import { nextExpiryWait } from '../../../src/ssh/grant-expiry.js';
import { renderSshdDropIn } from '../../../src/ssh/sshd-drop-in.js';

describe('parseAuthLogLine', () => {
  it('reads a publickey login from sshd -e and from syslog', () => {
    const login = 'Accepted publickey for tp-1a2b from 10.0.0.5 port 51234 ssh2: ED25519 SHA256:abcDEF123+/x';
    expect(parseAuthLogLine(login)).toEqual({
      type: 'ssh.login',
      data: {
        method: 'publickey',
        user: 'tp-1a2b',
        from: '10.0.0.5',
        port: '51234',
        keyType: 'ED25519',
        keyFingerprint: 'SHA256:abcDEF123+/x',
      },
    });
    expect(parseAuthLogLine(`2026-11-21T23:00:00.123456+00:00 ip-10-0-0-1 sshd[812]: ${login}`)?.type).toBe(
      'ssh.login',
    );
    expect(
      parseAuthLogLine(
        'Nov 21 23:00:00 ip-10-0-0-1 sshd[812]: Disconnected from user alice 10.0.0.5 port 51234',
      ),
    ).toEqual({
      type: 'ssh.logout',
      data: { user: 'alice', from: '10.0.0.5', port: '51234' },
    });
  });

  it('cannot be fooled by a user name that contains a login line', () => {
    const forged =
      'sshd[9]: Invalid user Accepted publickey for root from 1.2.3.4 port 1 ssh2: RSA SHA256:x from 5.6.7.8 port 2222';
    expect(parseAuthLogLine(forged)).toBeUndefined();
    expect(
      parseAuthLogLine(
        'sshd[9]: Connection closed by invalid user x sshd[1]: Disconnected from user root 1.2.3.4 port 1',
      ),
    ).toBeUndefined();
    expect(parseAuthLogLine('sshd[9]: Failed publickey for alice from 1.2.3.4 port 1 ssh2')).toBeUndefined();
  });
});

describe('renderSshdDropIn', () => {
  it('writes one Port line per ssh_ports entry and the hardened defaults', () => {
    const text = renderSshdDropIn({ ports: [22, 2222], gatewayPorts: true });
    expect(text).toContain('Port 22\nPort 2222\n');
    expect(text).toContain('PasswordAuthentication no');
    // Never weaker than the AMI: root only through the runtime dir's switch (disk-full fallback).
    expect(text).toContain('PermitRootLogin no');
    expect(text).not.toContain('prohibit-password');
    expect(renderSshdDropIn({ ports: [22] }, '/run/taupage-ssh/sshd_config.d')).toContain(
      'Include /run/taupage-ssh/sshd_config.d/*.conf\nPermitRootLogin no\n',
    );
    expect(() => renderSshdDropIn({ ports: [22] }, '/run/x y')).toThrow(/absolute path/);
    expect(text).toContain('GatewayPorts yes'); // YAML's unquoted yes, not the original's "True"
    expect(text).toContain('AllowTcpForwarding remote'); // reverse tunnels only
    expect(renderSshdDropIn({ ports: [22], gatewayPorts: false })).not.toContain('AllowTcpForwarding');
    expect(renderSshdDropIn({ ports: [] })).toContain('Port 22\n');
  });

  it.each([
    [{ ports: [0] }],
    [{ ports: [65536] }],
    [{ ports: [22.5] }],
    [{ ports: [22, 22] }],
    [{ ports: [22], gatewayPorts: 'yes\nPermitRootLogin yes' as 'yes' }],
  ])('refuses %j instead of writing it', (options) => {
    expect(() => renderSshdDropIn(options)).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error,
    );
  });
});

describe('nextExpiryWait', () => {
  const grant = (expiresAt: number) => ({
    user: 'a',
    grantedAt: 0,
    expiresAt,
    remoteHost: undefined,
    target: 'user' as const,
    key: { type: 'ssh-ed25519', blob: 'AAAA' },
  });
  it('wakes up at the next expiry, within the interval, never spinning', () => {
    expect(nextExpiryWait([], 0, 10_000)).toBe(10_000);
    expect(nextExpiryWait([grant(3_000), grant(60_000)], 0, 10_000)).toBe(3_000);
    expect(nextExpiryWait([grant(-5)], 0, 10_000)).toBe(250);
  });
});
