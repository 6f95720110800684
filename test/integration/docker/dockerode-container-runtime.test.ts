import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseImageReference, type ImageReference } from '../../../src/config/image-reference.js';
import { Secret } from '../../../src/core/secret.js';
import type { ContainerSpec } from '../../../src/docker/container-runtime.js';
import { DockerodeContainerRuntime } from '../../../src/docker/dockerode-container-runtime.js';
import { env, eventually, freePort } from '../../support/test-env.js';

const docker = new Docker();
const runtime = new DockerodeContainerRuntime(docker);
const signal = new AbortController().signal;
const containerName = `taupage-it-${process.pid}`;

function image(source: string): ImageReference {
  const parsed = parseImageReference(source);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.reference;
}

async function removeImage(source: string): Promise<void> {
  await docker
    .getImage(source)
    .remove({ force: true })
    .catch((error: unknown) => {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    });
}

const pullOptions = { auth: undefined, signal, inactivityTimeoutMs: 30_000, deadlineMs: 120_000 };

beforeAll(async () => {
  await docker.ping();
});
afterAll(async () => {
  await docker
    .getContainer(containerName)
    .remove({ force: true })
    .catch(() => undefined);
});

describe('DockerodeContainerRuntime pulls', () => {
  it('pulls from a registry with a port, and then the image exists', async () => {
    await removeImage(env.image);
    expect(await runtime.imageExists(image(env.image), signal)).toBe(false);
    const statuses: string[] = [];
    await runtime.pullImage(image(env.image), {
      ...pullOptions,
      onProgress: (progress) => statuses.push(progress.status),
    });
    expect(await runtime.imageExists(image(env.image), signal)).toBe(true);
    expect(statuses.length).toBeGreaterThan(0);
  });

  it('shares one Docker pull between concurrent pulls of the same image', async () => {
    await removeImage(env.image);
    const events: string[][] = [[], []];
    await Promise.all(
      events.map((statuses) =>
        runtime.pullImage(image(env.image), {
          ...pullOptions,
          onProgress: (progress) => statuses.push(progress.status),
        }),
      ),
    );
    expect(events[0]?.length).toBeGreaterThan(0);
    expect(events[1]).toEqual([]); // the second caller only waited for the first pull
    expect(await runtime.imageExists(image(env.image), signal)).toBe(true);
  });

  it('ends a pull that outlives its overall deadline with IMAGE_PULL_STALLED', async () => {
    const stalled = createServer(() => undefined);
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    const { port } = stalled.address() as AddressInfo;
    try {
      await expect(
        runtime.pullImage(image(`127.0.0.1:${port}/stalled/app:2.0`), { ...pullOptions, deadlineMs: 800 }),
      ).rejects.toMatchObject({
        code: 'IMAGE_PULL_STALLED',
        message: expect.stringMatching(/did not finish within/) as unknown,
      });
    } finally {
      stalled.close();
    }
  });

  it('reports a missing tag as IMAGE_NOT_FOUND (permanent)', async () => {
    await expect(
      runtime.pullImage(image(`${env.registry}/taupage-test/httpd:does-not-exist`), pullOptions),
    ).rejects.toMatchObject({
      code: 'IMAGE_NOT_FOUND',
      retriable: false,
    });
  });

  it('reports a missing repository as IMAGE_NOT_FOUND', async () => {
    await expect(
      runtime.pullImage(image(`${env.registry}/nobody/nothing:1.0`), pullOptions),
    ).rejects.toMatchObject({
      code: 'IMAGE_NOT_FOUND',
    });
  });

  it('pulls from an htpasswd registry with basic auth', async () => {
    await removeImage(env.authImage);
    await runtime.pullImage(image(env.authImage), {
      ...pullOptions,
      auth: {
        username: env.registryUser,
        password: new Secret(env.registryPassword),
        serverAddress: env.authRegistry,
      },
    });
    expect(await runtime.imageExists(image(env.authImage), signal)).toBe(true);
  });

  it('reports wrong credentials as REGISTRY_AUTH_FAILED (permanent)', async () => {
    await removeImage(env.authImage);
    const failure = runtime.pullImage(image(env.authImage), {
      ...pullOptions,
      auth: {
        username: env.registryUser,
        password: new Secret('wrong-password-123'),
        serverAddress: env.authRegistry,
      },
    });
    await expect(failure).rejects.toMatchObject({ code: 'REGISTRY_AUTH_FAILED', retriable: false });
    await expect(failure).rejects.not.toThrow(/wrong-password-123/);
  });

  it('aborts a pull that makes no progress with IMAGE_PULL_STALLED (retriable)', async () => {
    // A "registry" that accepts connections and never answers: dockerd waits on it forever.
    const stalled = createServer(() => undefined);
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    const { port } = stalled.address() as AddressInfo;
    try {
      const startedAt = Date.now();
      await expect(
        runtime.pullImage(image(`127.0.0.1:${port}/stalled/app:1.0`), {
          ...pullOptions,
          inactivityTimeoutMs: 1_000,
        }),
      ).rejects.toMatchObject({ code: 'IMAGE_PULL_STALLED', retriable: true });
      expect(Date.now() - startedAt).toBeLessThan(10_000);
    } finally {
      stalled.close();
    }
  });

  it('reports missing credentials as REGISTRY_AUTH_FAILED', async () => {
    await removeImage(env.authImage);
    await expect(runtime.pullImage(image(env.authImage), pullOptions)).rejects.toMatchObject({
      code: 'REGISTRY_AUTH_FAILED',
    });
  });
});

describe('DockerodeContainerRuntime containers', () => {
  it('creates the container exactly as specified and runs it', async () => {
    await runtime.pullImage(image(env.image), pullOptions);
    const hostPort = await freePort();
    const spec: ContainerSpec = {
      name: containerName,
      image: image(env.image),
      env: [
        { name: 'PLAIN', value: 'visible' },
        { name: 'DB_PASSWORD', value: new Secret('decrypted-value') },
      ],
      ports: [{ hostPort, containerPort: 8080, protocol: 'tcp' }],
      mounts: [{ source: '/tmp', target: '/meta', readOnly: true }],
      user: '999:999',
      restartPolicy: { name: 'on-failure', maximumRetryCount: 10 },
      logConfig: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '2' } },
      labels: { 'io.taupage.managed': 'true', 'io.taupage.config-digest': 'sha256:abc' },
    };
    const created = await runtime.createContainer(spec, signal);
    expect(created).toMatchObject({ name: containerName, state: 'created' });
    await runtime.startContainer(created.id, signal);
    await runtime.startContainer(created.id, signal); // already running: not an error

    const inspect = await docker.getContainer(created.id).inspect();
    expect(inspect.Config.Env).toEqual(
      expect.arrayContaining(['PLAIN=visible', 'DB_PASSWORD=decrypted-value']),
    );
    expect(inspect.Config.User).toBe('999:999');
    expect(inspect.Config.Labels).toMatchObject(spec.labels);
    expect(inspect.HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 10 });
    expect(inspect.HostConfig.LogConfig).toEqual({
      Type: 'json-file',
      Config: { 'max-size': '10m', 'max-file': '2' },
    });
    expect(inspect.HostConfig.Binds).toEqual(['/tmp:/meta:ro']);
    expect(inspect.HostConfig.PortBindings).toEqual({
      '8080/tcp': [{ HostIp: '', HostPort: String(hostPort) }],
    });

    const status = await eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${hostPort}/health`);
      return response.status === 200 ? response.status : undefined;
    }, 'the app to answer on its published port');
    expect(status).toBe(200);

    const found = await runtime.findContainer(containerName, signal);
    expect(found).toMatchObject({ id: created.id, state: 'running', restartCount: 0, oomKilled: false });
  });

  it('finds nothing for an unknown name, and not a container whose name merely contains it', async () => {
    expect(await runtime.findContainer(`${containerName}-other`, signal)).toBeUndefined();
    expect(await runtime.findContainer(containerName.slice(0, -1), signal)).toBeUndefined();
  });

  it('stops and removes the container', async () => {
    const found = await runtime.findContainer(containerName, signal);
    if (found === undefined) throw new Error('container from the previous test is missing');
    await runtime.stopContainer(found.id, 1, signal);
    expect((await runtime.inspectContainer(found.id, signal))?.state).toBe('exited');
    await runtime.removeContainer(found.id, signal);
    expect(await runtime.inspectContainer(found.id, signal)).toBeUndefined();
  });

  it('refuses to create a duplicate name with CONTAINER_FAILED', async () => {
    const spec: ContainerSpec = {
      name: containerName,
      image: image(env.image),
      env: [],
      ports: [],
      mounts: [],
      user: undefined,
      restartPolicy: { name: 'on-failure', maximumRetryCount: 10 },
      logConfig: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '2' } },
      labels: {},
    };
    await runtime.createContainer(spec, signal);
    await expect(runtime.createContainer(spec, signal)).rejects.toMatchObject({ code: 'CONTAINER_FAILED' });
  });

  it('reports an unreachable engine as DOCKER_UNAVAILABLE', async () => {
    const broken = new DockerodeContainerRuntime(new Docker({ socketPath: '/nonexistent/docker.sock' }));
    await expect(broken.findContainer('x', signal)).rejects.toMatchObject({
      code: 'DOCKER_UNAVAILABLE',
      retriable: true,
    });
  });
});
