import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boot, BOOT_STEPS, type BootDependencies } from '../../../src/app/boot.js';
import type { Clock } from '../../../src/core/clock.js';
import { systemClock } from '../../../src/core/clock.js';
import { Redactor } from '../../../src/core/redactor.js';
import { PIERONE_TRUST_POLICY } from '../../../src/docker/registry-trust.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { FakeContainerRuntime } from '../../fakes/fake-container-runtime.js';
import { FakeInstanceMetadata } from '../../fakes/fake-instance-metadata.js';
import { FakeSecretDecrypter } from '../../fakes/fake-secret-decrypter.js';

// Issue 15: the trust check (a real HTTP manifest GET against a Pier One-like registry) is part
// of the pull and retried with it. Before, it ran once outside the pull retry: one 503 from the
// registry, or its token endpoint, failed the boot.
let server: Server;
let host: string;
let metaDir: string;
/** Answers the next requests get before the registry behaves: manifest or token 503s. */
const outage = { manifest: 0, token: 0 };
let manifestRequests = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url?.startsWith('/token')) {
      if (outage.token > 0) {
        outage.token--;
        res.writeHead(503).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 't1' }));
      return;
    }
    manifestRequests++;
    if (req.headers.authorization !== 'Bearer t1') {
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="http://${host}/token",service="registry",scope="repository:team/app:pull"`,
        })
        .end();
      return;
    }
    if (outage.manifest > 0) {
      outage.manifest--;
      res.writeHead(503).end();
      return;
    }
    res
      .writeHead(200, {
        'content-type': 'application/vnd.docker.distribution.manifest.v2+json',
        'X-Trusted': 'true',
      })
      .end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  metaDir = await mkdtemp(join(tmpdir(), 'taupage-boot-trust-'));
});
afterAll(async () => {
  server.close();
  await rm(metaDir, { recursive: true, force: true });
});

/** Virtual time: a sleep returns at once (the pull policy's 1-10 s waits are not the point). */
const instantClock: Clock = { now: () => Date.now(), sleep: () => Promise.resolve() };

function setup() {
  const image = `${host}/team/app:1.0`;
  const runtime = new FakeContainerRuntime();
  runtime.registry.add(image);
  const state = new AgentState(new BootTimeline(systemClock, BOOT_STEPS), {
    version: 'test',
    commit: 'test',
    mode: 'ec2',
    startedAt: new Date().toISOString(),
  });
  const deps: BootDependencies = {
    metadata: new FakeInstanceMetadata(
      `#taupage-ami-config\nruntime: Docker\nsource: ${image}\napplication_id: kio\napplication_version: "1.0"\n`,
    ),
    secretDecrypter: () => new FakeSecretDecrypter(),
    runtime,
    clock: instantClock,
    log: pino({ level: 'silent' }),
    redactor: new Redactor(),
    state,
    settings: {
      defaults: { root: false },
      metaDir,
      containerName: 'taupageapp',
      applicationUser: '999:999',
      pullInactivityTimeoutMs: 1000,
      healthCheckHost: '127.0.0.1',
    },
    registries: { ecr: undefined, identityDocumentRegistries: new Set(), trustPolicy: PIERONE_TRUST_POLICY },
  };
  return { deps, runtime, image };
}

describe('boot: the trust check is retried with the pull', () => {
  it('boots through a registry that answers the manifest with 503 twice', async () => {
    const { deps, runtime, image } = setup();
    outage.manifest = 2;
    const before = manifestRequests;
    const result = await boot(deps, new AbortController().signal);
    expect(result.container?.state).toBe('running');
    expect(runtime.calls).toContain(`pull ${image}`);
    expect(manifestRequests - before).toBe(6); // 3 attempts, each an anonymous GET and a Bearer GET
  });

  it('boots through a token endpoint that answers 503 twice (not REGISTRY_AUTH_FAILED)', async () => {
    const { deps } = setup();
    outage.token = 2;
    const result = await boot(deps, new AbortController().signal);
    expect(result.container?.state).toBe('running');
  });

  it('ends a registry outage longer than the pull budget with IMAGE_PULL_FAILED, exit 4', async () => {
    const { deps, runtime } = setup();
    outage.manifest = 1_000;
    try {
      await expect(boot(deps, new AbortController().signal)).rejects.toMatchObject({
        code: 'IMAGE_PULL_FAILED',
        exitCode: 4,
      });
      expect(runtime.calls.filter((call) => call.startsWith('pull'))).toEqual([]);
    } finally {
      outage.manifest = 0;
    }
  });
});
