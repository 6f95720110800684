import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/core/clock.js';
import { systemClock } from '../../../src/core/clock.js';
import { Secret } from '../../../src/core/secret.js';
import { parseImageReference, type ImageReference } from '../../../src/config/image-reference.js';
import { AwsEcrTokenSource } from '../../../src/docker/aws-ecr-token-source.js';
import {
  ECR_TOKEN_REFRESH_MARGIN_MS,
  RegistryAuthProvider,
} from '../../../src/docker/registry-auth-provider.js';
import { PIERONE_TRUST_POLICY, verifyImageTrusted } from '../../../src/docker/registry-trust.js';
import { EcrEmulator } from '../../emulators/ecr-emulator.js';
import { env } from '../../support/test-env.js';

const signal = new AbortController().signal;
function image(source: string): ImageReference {
  const parsed = parseImageReference(source);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.reference;
}

describe('RegistryAuthProvider', () => {
  let ecr: EcrEmulator;
  beforeAll(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIDECRTEST';
    process.env.AWS_SECRET_ACCESS_KEY = 'ecr-secret';
    ecr = await EcrEmulator.start({ password: 'ecr-token-password' });
  });
  afterAll(async () => {
    await ecr.close();
  });

  const provider = (
    clock: Clock,
    extra: Partial<ConstructorParameters<typeof RegistryAuthProvider>[0]> = {},
  ) =>
    new RegistryAuthProvider({
      basic: new Map(),
      ecr: new AwsEcrTokenSource(ecr.url),
      identityDocumentRegistries: new Set(),
      identityDocument: undefined,
      clock,
      ...extra,
    });

  it('logs in to ECR hosts with GetAuthorizationToken and caches the token until an hour before it expires', async () => {
    let now = Date.now();
    const clock: Clock = { now: () => now, sleep: (ms, abort) => systemClock.sleep(ms, abort) };
    const auth = provider(clock);
    const ecrImage = image(`${ecr.registryHost}/team/app:1.0`);
    const first = await auth.authFor(ecrImage, signal);
    expect(first).toMatchObject({ username: 'AWS', serverAddress: `https://${ecr.registryHost}` });
    expect(first?.password.reveal()).toBe('ecr-token-password');
    await auth.authFor(ecrImage, signal);
    expect(ecr.calls).toBe(1);
    now += 12 * 3_600_000 - ECR_TOKEN_REFRESH_MARGIN_MS + 1_000;
    await auth.authFor(ecrImage, signal);
    expect(ecr.calls).toBe(2);
  });

  it('prefers dockercfg credentials, and uses the identity document for the AMI-named registries', async () => {
    const auth = provider(systemClock, {
      basic: new Map([['registry.example.org', { username: 'robot', password: new Secret('pw') }]]),
      identityDocumentRegistries: new Set(['pierone.example.org']),
      identityDocument: () => Promise.resolve('MIAGCSqGSIb3\nDQEHAqCAMIACAQEx'),
    });
    expect(await auth.authFor(image('registry.example.org/team/app:1.0'), signal)).toMatchObject({
      username: 'robot',
    });
    const iid = await auth.authFor(image('pierone.example.org/team/app:1.0'), signal);
    expect(iid).toMatchObject({ username: 'instance-identity-document' });
    expect(iid?.password.reveal()).toBe('MIAGCSqGSIb3DQEHAqCAMIACAQEx');
    expect(await auth.authFor(image('other.example.org/team/app:1.0'), signal)).toBeUndefined();
  });

  it('reports ECR access denied as REGISTRY_AUTH_FAILED', async () => {
    ecr.denied = true;
    await expect(
      provider(systemClock).authFor(image(`${ecr.registryHost}/team/app:2.0`), signal),
    ).rejects.toMatchObject({
      code: 'REGISTRY_AUTH_FAILED',
    });
    ecr.denied = false;
  });
});

describe('verifyImageTrusted', () => {
  let server: Server;
  let host: string;
  const seen: (string | undefined)[] = [];
  /** The token endpoint's answer: 200 with a token unless a test sets a status. */
  let tokenStatus = 200;
  /** Where the Bearer challenge sends the client for a token (a test may point it at a dead port). */
  let realmHost = '';
  beforeAll(async () => {
    // A registry in the Pier One manner: token auth, and trust headers on manifests.
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push(req.headers.authorization);
      if (req.url?.startsWith('/token')) {
        if (tokenStatus !== 200) {
          res.writeHead(tokenStatus).end();
          return;
        }
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ token: 'bearer-token-1' }));
        return;
      }
      if (req.headers.authorization !== 'Bearer bearer-token-1') {
        res
          .writeHead(401, {
            'www-authenticate': `Bearer realm="http://${realmHost}/token",service="registry",scope="repository:team/app:pull"`,
          })
          .end();
        return;
      }
      const tag = req.url?.split('/manifests/')[1];
      const headers: Record<string, string> = {
        'content-type': 'application/vnd.docker.distribution.manifest.v2+json',
      };
      if (tag === 'trusted') headers['X-Trusted'] = 'true';
      if (tag === 'untrusted')
        Object.assign(headers, {
          'X-Production-Ready-Taupage': 'false',
          'X-Trusted': 'true',
          'X-Production-Ready-Reason': 'no approved change request',
        });
      if (tag === 'missing') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, headers).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    realmHost = host;
  });
  afterAll(() => {
    server.close();
  });
  const basic = { username: 'robot', password: new Secret('robot-pw'), serverAddress: '' };

  it('passes a manifest marked trusted, after the Bearer token dance with basic credentials', async () => {
    await expect(
      verifyImageTrusted(image(`${host}/team/app:trusted`), basic, PIERONE_TRUST_POLICY, signal),
    ).resolves.toBeUndefined();
    expect(seen).toContain(`Basic ${Buffer.from('robot:robot-pw').toString('base64')}`);
  });

  it("refuses with the registry's reason; X-Production-Ready-Taupage: false beats X-Trusted: true", async () => {
    await expect(
      verifyImageTrusted(image(`${host}/team/app:untrusted`), basic, PIERONE_TRUST_POLICY, signal),
    ).rejects.toMatchObject({
      code: 'IMAGE_UNTRUSTED',
      message: expect.stringMatching(/not trusted for production: no approved change request$/) as unknown,
    });
  });

  it('refuses a registry that sets no trust header at all (the real test registry)', async () => {
    const auth = {
      username: env.registryUser,
      password: new Secret(env.registryPassword),
      serverAddress: env.authRegistry,
    };
    await expect(
      verifyImageTrusted(image(env.authImage), auth, PIERONE_TRUST_POLICY, signal),
    ).rejects.toMatchObject({
      code: 'IMAGE_UNTRUSTED',
      message: expect.stringMatching(/no X-Production-Ready-Taupage or X-Trusted header/) as unknown,
    });
  });

  it('maps a missing manifest to IMAGE_NOT_FOUND', async () => {
    await expect(
      verifyImageTrusted(image(`${host}/team/app:missing`), basic, PIERONE_TRUST_POLICY, signal),
    ).rejects.toMatchObject({
      code: 'IMAGE_NOT_FOUND',
    });
  });

  // Issue 15: a token endpoint that is down is an outage, not a refusal. Before the fix the
  // failed token fetch was swallowed, the 401 of the anonymous manifest request stood, and the
  // boot ended with REGISTRY_AUTH_FAILED, exit 3: one registry blip left a dead instance.
  it.each([500, 503, 429])(
    'maps a token endpoint answering %i to IMAGE_PULL_FAILED, retriable',
    async (status) => {
      tokenStatus = status;
      try {
        await expect(
          verifyImageTrusted(image(`${host}/team/app:trusted`), basic, PIERONE_TRUST_POLICY, signal),
        ).rejects.toMatchObject({ code: 'IMAGE_PULL_FAILED', retriable: true });
      } finally {
        tokenStatus = 200;
      }
    },
  );

  it('maps an unreachable token endpoint to IMAGE_PULL_FAILED, retriable', async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise<void>((resolve) =>
      dead.close(() => {
        resolve();
      }),
    );
    realmHost = `127.0.0.1:${deadPort}`;
    try {
      await expect(
        verifyImageTrusted(image(`${host}/team/app:trusted`), basic, PIERONE_TRUST_POLICY, signal),
      ).rejects.toMatchObject({ code: 'IMAGE_PULL_FAILED', retriable: true });
    } finally {
      realmHost = host;
    }
  });

  it('keeps a token endpoint refusing the credentials (401, 403) as REGISTRY_AUTH_FAILED', async () => {
    for (const status of [401, 403]) {
      tokenStatus = status;
      try {
        await expect(
          verifyImageTrusted(image(`${host}/team/app:trusted`), basic, PIERONE_TRUST_POLICY, signal),
        ).rejects.toMatchObject({ code: 'REGISTRY_AUTH_FAILED', retriable: false });
      } finally {
        tokenStatus = 200;
      }
    }
  });
});
