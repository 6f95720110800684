import { describe, expect, it } from 'vitest';
import { ec2PrivateDnsName } from '../../../src/etcd/etcd-registration.js';
import { isSecretLooking, MASKED, registrationValue } from '../../../src/etcd/registration-document.js';

describe('the etcd registration value', () => {
  it('publishes the config without environment, masking secret-looking keys and aws:kms: values at any depth', () => {
    const value = JSON.parse(
      registrationValue({
        application_id: 'kio',
        environment: { A: 'b' },
        hystrix: ':7979/hystrix.stream',
        logsink_password: 'p',
        private_thing: 'x',
        my_token: 't',
        scalyr_account_key: 'k',
        appdynamics_account_globalname: 'aws:kms:AQID',
        dockercfg: { 'https://r.example.org': { auth: 'YTpi', email: 'e' } },
        list: ['aws:kms:AQID', 'plain', { client_secret: 's' }],
        ports: { 8080: 8080 },
        root: false,
        nothing: null,
      }),
    ) as unknown;
    expect(value).toEqual({
      application_id: 'kio',
      hystrix: ':7979/hystrix.stream',
      logsink_password: MASKED,
      private_thing: MASKED,
      my_token: MASKED,
      scalyr_account_key: MASKED,
      appdynamics_account_globalname: MASKED,
      dockercfg: { 'https://r.example.org': { auth: MASKED, email: 'e' } },
      list: [MASKED, 'plain', { client_secret: MASKED }],
      ports: { 8080: 8080 },
      root: false,
      nothing: null,
    });
  });

  it('looks for the original’s pass/private/secret and more', () => {
    for (const key of [
      'DB_PASSWORD',
      'privateKey',
      'client_secret',
      'api_token',
      'scalyr_account_key',
      'auth',
      'credentials',
    ])
      expect(isSecretLooking(key), key).toBe(true);
    for (const key of ['application_id', 'hystrix', 'source', 'ports', 'mint_bucket', 'keep_instance_users'])
      expect(isSecretLooking(key), key).toBe(false);
  });

  it('names the instance as EC2’s private DNS does', () => {
    expect(ec2PrivateDnsName('10.0.1.2', 'eu-central-1')).toBe('ip-10-0-1-2.eu-central-1.compute.internal');
    expect(ec2PrivateDnsName('172.31.0.9', 'us-east-1')).toBe('ip-172-31-0-9.ec2.internal');
  });
});
