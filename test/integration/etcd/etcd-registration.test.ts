import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/core/clock.js';
import { EtcdRegistration, HEARTBEAT_TTL_SECONDS } from '../../../src/etcd/etcd-registration.js';
import { MASKED, registrationValue } from '../../../src/etcd/registration-document.js';
import { eventually, freePort } from '../../support/test-env.js';
import { EtcdServer } from './etcd-server.js';

// The original's register-in-etcd.py against a real etcd (Debian's 3.4, v2 API).
const log = pino({ level: 'silent' });
const signal = new AbortController().signal;
let etcd: EtcdServer;

beforeEach(async () => {
  etcd = await EtcdServer.start();
}, 30_000);
afterEach(async () => {
  await etcd.stop();
});

const CONFIG = {
  application_id: 'kio',
  application_version: '1.0',
  source: 'pierone.example.org/stups/kio:1.0',
  hystrix: ':7979/hystrix.stream',
  environment: { DB_PASSWORD: 'aws:kms:AQICAHh0ZW5hbnQ=', PLAIN: 'env-is-never-published' },
  scalyr_account_key: 'scalyr-plaintext-key-0001',
  logsink_password: 'logsink-plaintext-0002',
  dockercfg: { 'https://registry.example.org': { auth: 'dXNlcjpwYXNzd29yZA==', email: 'a@b.c' } },
  logging: { scalyr_account_key: 'aws:kms:AQICAHhzY2FseXI=', log_destination: 's3' },
  ports: { 8080: 8080 },
};

function registration(isHealthy: () => boolean, intervalMs?: number) {
  return new EtcdRegistration({
    endpoint: etcd.url,
    fqdn: 'ip-10-0-1-2.eu-central-1.compute.internal',
    value: registrationValue(CONFIG),
    isHealthy,
    clock: systemClock,
    log,
    ...(intervalMs === undefined ? {} : { intervalMs }),
  });
}

describe('etcd registration (etcd_discovery_domain)', () => {
  it('writes /v2/keys/taupage/<fqdn> with TTL 15 and the masked config without environment', async () => {
    const heartbeat = registration(() => true);
    await heartbeat.beat(signal);
    const node = await etcd.get('/taupage/ip-10-0-1-2.eu-central-1.compute.internal');
    expect(node?.ttl).toBeGreaterThan(HEARTBEAT_TTL_SECONDS - 3);
    expect(node?.ttl).toBeLessThanOrEqual(HEARTBEAT_TTL_SECONDS);
    const value = JSON.parse(node?.value ?? '{}') as Record<string, unknown>;
    expect(value).toEqual({
      application_id: 'kio',
      application_version: '1.0',
      source: 'pierone.example.org/stups/kio:1.0',
      hystrix: ':7979/hystrix.stream',
      scalyr_account_key: MASKED,
      logsink_password: MASKED,
      dockercfg: { 'https://registry.example.org': { auth: MASKED, email: 'a@b.c' } },
      logging: { scalyr_account_key: MASKED, log_destination: 's3' },
      ports: { 8080: 8080 },
    });
    for (const secret of ['scalyr-plaintext', 'logsink-plaintext', 'dXNlcjpw', 'aws:kms:', 'env-is-never'])
      expect(node?.value).not.toContain(secret);
    expect(heartbeat.status()).toMatchObject({ beats: 1, failures: 0 });
  });

  it('writes nothing while the app is unhealthy, and the key expires with its TTL', async () => {
    let healthy = false;
    const heartbeat = registration(() => healthy);
    await heartbeat.beat(signal);
    expect(await etcd.get(heartbeat.key)).toBeUndefined();
    healthy = true;
    await heartbeat.beat(signal);
    expect(await etcd.get(heartbeat.key)).toBeDefined();
    healthy = false;
    await heartbeat.beat(signal);
    expect(heartbeat.status()).toMatchObject({ beats: 1, skipped: 2 });
    // Nobody renews it: etcd removes it after the TTL (the original's way of deregistering).
    await eventually(
      async () => ((await etcd.get(heartbeat.key)) === undefined ? true : undefined),
      'the key to expire',
      (HEARTBEAT_TTL_SECONDS + 5) * 1000,
    );
  }, 40_000);

  it('beats on its interval until stopped, and counts etcd being away without throwing', async () => {
    const heartbeat = registration(() => true, 100);
    const stop = new AbortController();
    const running = heartbeat.run(stop.signal);
    await eventually(() => Promise.resolve(heartbeat.status().beats >= 3 ? true : undefined), 'three beats');
    stop.abort();
    await running;

    const away = new EtcdRegistration({
      endpoint: `http://127.0.0.1:${await freePort()}`,
      fqdn: 'ip-10-0-1-3.eu-central-1.compute.internal',
      value: '{}',
      isHealthy: () => true,
      clock: systemClock,
      log,
    });
    await away.beat(signal);
    await away.beat(signal);
    expect(away.status()).toMatchObject({ beats: 0, failures: 2 });
    expect(away.status().lastError).toBeDefined();
  });
});
