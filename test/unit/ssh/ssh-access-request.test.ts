import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSshAccessRequest } from '../../../src/ssh/ssh-access-request.js';

describe('parseSshAccessRequest (SSH_ORIGINAL_COMMAND)', () => {
  it.each([
    [
      'grant-ssh-access alice',
      { action: 'grant', user: 'alice', remoteHost: undefined, ttlMinutes: undefined },
    ],
    [
      'grant-ssh-access --remote-host=10.1.2.3 alice',
      { action: 'grant', user: 'alice', remoteHost: '10.1.2.3' },
    ],
    [
      'grant-ssh-access --remote-host 10.1.2.3 alice',
      { action: 'grant', user: 'alice', remoteHost: '10.1.2.3' },
    ],
    [
      'grant-ssh-access alice --remote-host=odd.example.org',
      { action: 'grant', user: 'alice', remoteHost: 'odd.example.org' },
    ],
    ['grant-ssh-access --ttl 30 alice', { action: 'grant', user: 'alice', ttlMinutes: 30 }],
    ['revoke-ssh-access alice', { action: 'revoke', user: 'alice', keepLocal: false }],
    [
      'revoke-ssh-access --remote-host 10.1.2.3 --keep-local alice',
      { action: 'revoke', user: 'alice', keepLocal: true, remoteHost: '10.1.2.3' },
    ],
    ['revoke-ssh-access alice --keep-local', { action: 'revoke', user: 'alice', keepLocal: true }],
  ])('accepts even’s form %j', (command, expected) => {
    expect(parseSshAccessRequest(command)).toMatchObject(expected);
  });

  it.each([
    undefined,
    '',
    'grant-ssh-access',
    'grant-ssh-access alice bob',
    'grant-ssh-access root',
    'grant-ssh-access ../etc',
    'grant-ssh-access al;ice',
    'grant-ssh-access "alice"',
    'grant-ssh-access --ttl 0 alice',
    'grant-ssh-access --keep-local alice',
    'revoke-ssh-access --ttl 5 alice',
    'revoke-ssh-access --keep-local=yes alice',
    'grant-ssh-access --remote-host alice',
    'grant-ssh-access --remote-host= alice',
    'grant-ssh-access --remote-host=A.B alice',
    'grant-ssh-access --other alice',
    `grant-ssh-access ${'x'.repeat(10_240)}`,
    'sudo grant-ssh-access alice',
  ])('rejects %j with SSH_REQUEST_INVALID, without echoing it', (command) => {
    let caught: unknown;
    try {
      parseSshAccessRequest(command);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'SSH_REQUEST_INVALID' });
    if (command !== undefined && command.length > 40)
      expect((caught as Error).message).not.toContain(command);
  });

  it('never accepts a user name outside ^[a-z][a-z0-9-]{0,31}$ (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (name) => {
        try {
          const request = parseSshAccessRequest(`grant-ssh-access ${name}`);
          return /^[a-z][a-z0-9-]{0,31}$/.test(request.user);
        } catch {
          return true;
        }
      }),
    );
  });
});
