import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TaupageError } from '../../../src/core/errors.js';
import { DockerodeContainerRuntime } from '../../../src/docker/dockerode-container-runtime.js';

/**
 * A Docker engine that takes the request and never answers (dockerd under load, or a slow
 * storage driver): the adapter's own API deadline ends the call. That is a transient failure
 * (DOCKER_UNAVAILABLE, restartable), not Docker refusing the container (CONTAINER_FAILED, exit 3,
 * terminal) — seen in the VM test: a `docker start` that took over 30 s under TCG failed the boot.
 */
describe('DockerodeContainerRuntime when the engine does not answer in time', () => {
  let dir: string;
  let server: Server;
  let runtime: DockerodeContainerRuntime;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'taupage-silent-docker-'));
    const socketPath = join(dir, 'docker.sock');
    server = createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    runtime = new DockerodeContainerRuntime(new Docker({ socketPath }), { apiTimeoutMs: 200 });
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

  it('start: the API deadline is DOCKER_UNAVAILABLE (retriable), not CONTAINER_FAILED', async () => {
    const error = await failure(runtime.startContainer('abc', new AbortController().signal));
    expect(error.code).toBe('DOCKER_UNAVAILABLE');
    expect(error.retriable).toBe(true);
  });

  it('stop and remove: the API deadline is DOCKER_UNAVAILABLE too', async () => {
    const stop = await failure(runtime.stopContainer('abc', 1, new AbortController().signal));
    expect(stop.code).toBe('DOCKER_UNAVAILABLE');
    const remove = await failure(runtime.removeContainer('abc', new AbortController().signal));
    expect(remove.code).toBe('DOCKER_UNAVAILABLE');
  });

  it("the caller's own abort (shutdown) is passed on as that abort, not as a Docker failure", async () => {
    const controller = new AbortController();
    const call = runtime.startContainer('abc', controller.signal);
    controller.abort(new Error('shutting down'));
    await expect(call).rejects.toThrow('shutting down');
  });
});
