import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TaupageError } from '../../../src/core/errors.js';
import { ExitCode } from '../../../src/core/exit-codes.js';
import type { ContainerSpec } from '../../../src/docker/container-runtime.js';
import { DockerodeContainerRuntime } from '../../../src/docker/dockerode-container-runtime.js';

/**
 * A Docker engine that answers create and start with an engine error (HTTP 5xx: a port still held
 * by a container being removed, a storage driver hiccup). That is the engine failing, not it
 * refusing the container: retriable (DOCKER_SERVER_ERROR, exit 4), unlike a 4xx (CONTAINER_FAILED,
 * exit 3, terminal).
 */
describe('DockerodeContainerRuntime when the engine answers with an error', () => {
  let dir: string;
  let server: Server;
  let runtime: DockerodeContainerRuntime;
  let status = 500;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'taupage-erroring-docker-'));
    const socketPath = join(dir, 'docker.sock');
    server = createServer((request, response) => {
      request.resume();
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ message: `engine says ${status}` }));
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    runtime = new DockerodeContainerRuntime(new Docker({ socketPath }), { apiTimeoutMs: 5_000 });
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    rmSync(dir, { recursive: true, force: true });
  });

  async function failure(call: Promise<unknown>): Promise<TaupageError> {
    const error = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TaupageError);
    return error as TaupageError;
  }

  const spec: ContainerSpec = {
    name: 'taupageapp',
    image: { registry: 'docker.io', repository: 'library/httpd', tag: '2.4', digest: undefined },
    env: [],
    ports: [],
    mounts: [],
    user: undefined,
    restartPolicy: { name: 'on-failure', maximumRetryCount: 3 },
    logConfig: { driver: 'json-file', options: {} },
    labels: {},
  };

  it('start: a 500 is DOCKER_SERVER_ERROR, retriable, exit 4', async () => {
    status = 500;
    const error = await failure(runtime.startContainer('abc', new AbortController().signal));
    expect(error).toMatchObject({
      code: 'DOCKER_SERVER_ERROR',
      retriable: true,
      exitCode: ExitCode.Unavailable,
    });
    expect(error.message).toContain('engine says 500');
  });

  it('create: a 503 is DOCKER_SERVER_ERROR too', async () => {
    status = 503;
    const error = await failure(runtime.createContainer(spec, new AbortController().signal));
    expect(error.code).toBe('DOCKER_SERVER_ERROR');
  });

  it('a 4xx is still Docker refusing the container: CONTAINER_FAILED, terminal', async () => {
    status = 400;
    const error = await failure(runtime.startContainer('abc', new AbortController().signal));
    expect(error).toMatchObject({
      code: 'CONTAINER_FAILED',
      retriable: false,
      exitCode: ExitCode.BootFailed,
    });
  });
});
