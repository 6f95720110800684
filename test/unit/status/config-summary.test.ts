import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../../src/core/secret.js';
import { summarizeConfig } from '../../../src/status/config-summary.js';

describe('summarizeConfig', () => {
  it('keeps every key and redacts secrets, aws:kms: values, sensitive keys and URL credentials', () => {
    const summary = summarizeConfig({
      applicationId: 'app',
      ports: [{ hostPort: 80, containerPort: 8080 }],
      environment: [
        { name: 'DB_PASSWORD', value: { kind: 'encrypted', ciphertext: Buffer.from('c') } },
        { name: 'API_TOKEN', value: { kind: 'plain', value: 'plain-token' } },
        { name: 'DATABASE_URL', value: { kind: 'plain', value: 'postgres://user:pw@db:5432/x' } },
        { name: 'GREETING', value: { kind: 'plain', value: 'hello' } },
      ],
      registryCredentials: new Map([
        ['registry.example', { username: 'bot', password: { kind: 'plain', value: 'pw' } }],
      ]),
      scalyr_account_key: 'abc',
      raw: 'aws:kms:AQICAHh',
      decrypted: new Secret('s3cr3t'),
      healthCheck: undefined,
    });
    expect(summary).toEqual({
      applicationId: 'app',
      ports: [{ hostPort: 80, containerPort: 8080 }],
      environment: {
        DB_PASSWORD: '[redacted]',
        API_TOKEN: '[redacted]',
        DATABASE_URL: 'postgres://[redacted]@db:5432/x',
        GREETING: 'hello',
      },
      registryCredentials: { 'registry.example': { username: '[redacted]', password: '[redacted]' } },
      scalyr_account_key: '[redacted]',
      raw: '[redacted]',
      decrypted: '[redacted]',
      healthCheck: null,
    });
  });

  it('never lets an encrypted or sensitive value through, whatever it is', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 4 }), fc.string({ minLength: 1 }), (secret, name) => {
        const text = JSON.stringify(
          summarizeConfig({
            environment: [{ name, value: { kind: 'encrypted', ciphertext: Buffer.from(secret) } }],
            nested: { password: secret, list: [{ secret_key: secret }] },
            wrapped: new Secret(secret),
            kms: `aws:kms:${secret}`,
          }),
        );
        // As a whole JSON string value: keys are kept on purpose, so a secret equal to a key is no leak.
        fc.pre(
          ![name, 'environment', 'nested', 'password', 'list', 'secret_key', 'wrapped', 'kms'].includes(
            secret,
          ),
        );
        expect(text).not.toContain(JSON.stringify(secret));
        expect(text).not.toContain('aws:kms:');
      }),
    );
  });
});
