import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { serviceEnvironment, serviceNodeFlags } from '../../support/service-unit.js';

const unit = readFileSync(new URL('../../../systemd/taupage.service', import.meta.url), 'utf8');

describe('taupage.service as tests and benches read it', () => {
  it('takes the node flags between the binary and the bundle', () => {
    expect(
      serviceNodeFlags('ExecStart=/usr/local/bin/node --a=1  --b /opt/taupage/taupage.mjs agent\n'),
    ).toEqual(['--a=1', '--b']);
    expect(serviceNodeFlags('ExecStart=/usr/local/bin/node /opt/taupage/taupage.mjs agent\n')).toEqual([]);
    expect(() => serviceNodeFlags('ExecStart=/bin/true\n')).toThrow('no ExecStart of taupage.mjs agent');
  });

  it('takes every Environment= variable but the AMI compile cache path', () => {
    const text =
      'Environment=NODE_COMPILE_CACHE=/opt/x\nEnvironment=A=1 B=x=y\n# Environment=C=3\nEnvironment=D=\n';
    expect(serviceEnvironment(text)).toEqual({ A: '1', B: 'x=y', D: '' });
    expect(() => serviceEnvironment('Environment=oops\n')).toThrow('without NAME=value: oops');
  });

  it('reads the real unit', () => {
    expect(serviceNodeFlags(unit)).toContain('--max-semi-space-size=2');
    expect(serviceEnvironment(unit)).not.toHaveProperty('NODE_COMPILE_CACHE');
    expect(serviceEnvironment(unit)).toHaveProperty('MALLOC_ARENA_MAX', '2');
  });
});
