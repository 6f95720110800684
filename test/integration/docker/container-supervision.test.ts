import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import Docker from 'dockerode';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Supervisor, type SupervisorOutcome } from '../../../src/app/supervisor.js';
import { parseImageReference } from '../../../src/config/image-reference.js';
import type { ShutdownPolicy } from '../../../src/config/taupage-config.js';
import { systemClock } from '../../../src/core/clock.js';
import type { ContainerEvent } from '../../../src/docker/container-events.js';
import type { ContainerSpec } from '../../../src/docker/container-runtime.js';
import { DockerodeContainerEvents } from '../../../src/docker/dockerode-container-events.js';
import { DockerodeContainerRuntime } from '../../../src/docker/dockerode-container-runtime.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { env, eventually } from '../../support/test-env.js';

const docker = new Docker();
const runtime = new DockerodeContainerRuntime(docker);
const created: string[] = [];

function uniqueName(what: string): string {
  const name = `taupage-it-sup-${what}-${randomBytes(3).toString('hex')}`;
  created.push(name);
  return name;
}

function spec(name: string, source: string, maximumRetryCount = 10): ContainerSpec {
  const parsed = parseImageReference(source);
  if (!parsed.ok) throw new Error(parsed.message);
  return {
    name,
    image: parsed.reference,
    env: [],
    ports: [],
    mounts: [],
    user: undefined,
    restartPolicy: { name: 'on-failure', maximumRetryCount },
    logConfig: { driver: 'json-file', options: {} },
    labels: { 'io.taupage.managed': 'true', 'io.taupage.config-digest': 'sha256:it' },
  };
}

/** A container with a command (the spec has none): how the tests make apps that exit or OOM. */
async function createRaw(name: string, cmd: string, hostConfig: Docker.HostConfig = {}): Promise<string> {
  const container = await docker.createContainer({
    name,
    Image: env.image,
    Cmd: ['/bin/sh', '-c', cmd],
    Labels: { 'io.taupage.managed': 'true' },
    HostConfig: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 10 }, ...hostConfig },
  });
  return container.id;
}

interface Running {
  readonly state: AgentState;
  readonly logs: Record<string, unknown>[];
  readonly outcome: Promise<SupervisorOutcome>;
  readonly stop: () => Promise<SupervisorOutcome>;
}

function supervise(
  name: string,
  id: string,
  options: { shutdown?: ShutdownPolicy; spec?: ContainerSpec; counted?: string[] } = {},
): Running {
  const state = new AgentState(new BootTimeline(systemClock, []), {
    version: 'test',
    commit: 'test',
    mode: 'ec2',
    startedAt: new Date().toISOString(),
  });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const controller = new AbortController();
  const supervisor = new Supervisor({
    runtime,
    events: new DockerodeContainerEvents(docker),
    clock: systemClock,
    log: pino({ level: 'debug' }, sink),
    state,
    containerName: name,
    containerId: id,
    spec: () => options.spec ?? spec(name, env.image),
    shutdown: options.shutdown ?? 'never',
    lastSeen: undefined,
    lastSeenFile: undefined,
    audit: () => undefined,
    count: (kind) => options.counted?.push(kind),
    recordError: () => undefined,
  });
  const outcome = supervisor.run(controller.signal);
  return {
    state,
    logs,
    outcome,
    stop: async () => {
      controller.abort();
      return outcome;
    },
  };
}

function messages(logs: readonly Record<string, unknown>[], kind: string): string[] {
  return logs.filter((line) => line.kind === kind).map((line) => String(line.msg));
}

beforeAll(async () => {
  await docker.ping();
  await runtime.pullImage(parseOrThrow(env.image), {
    auth: undefined,
    signal: new AbortController().signal,
    inactivityTimeoutMs: 30_000,
    deadlineMs: 120_000,
  });
  await runtime.pullImage(parseOrThrow(env.exitImage), {
    auth: undefined,
    signal: new AbortController().signal,
    inactivityTimeoutMs: 30_000,
    deadlineMs: 120_000,
  });
});
afterAll(async () => {
  for (const name of created.splice(0))
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
});

function parseOrThrow(source: string) {
  const parsed = parseImageReference(source);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.reference;
}

describe('DockerodeContainerEvents', () => {
  it('streams die (with the exit code) and start of exactly the named container, not one whose name extends it', async () => {
    const name = uniqueName('events');
    const events = new DockerodeContainerEvents(docker);
    const controller = new AbortController();
    const stream = await events.open(name, controller.signal);
    const seen: ContainerEvent[] = [];
    const reading = (async () => {
      for await (const event of stream) seen.push(event);
    })();
    const other = await createRaw(`${name}-other`, 'exit 5', { RestartPolicy: { Name: 'no' } });
    created.push(`${name}-other`);
    await docker.getContainer(other).start();
    const id = await createRaw(name, 'exit 7', { RestartPolicy: { Name: 'no' } });
    await docker.getContainer(id).start();
    const die = await eventually(
      () => Promise.resolve(seen.find((event) => event.action === 'die')),
      'the die event',
    );
    expect(die).toMatchObject({ containerId: id, name, exitCode: 7 });
    expect(seen.every((event) => event.containerId === id)).toBe(true);
    expect(seen.map((event) => event.action)).toContain('start');
    controller.abort();
    await reading; // ends quietly on abort
  });
});

describe('Supervisor against a real dockerd', () => {
  it('reports Docker restarts with the exit code and a crash loop, each logged once', async () => {
    const name = uniqueName('crash');
    const info = await runtime.createContainer(spec(name, env.exitImage), new AbortController().signal);
    const counted: string[] = [];
    const running = supervise(name, info.id, { counted });
    await runtime.startContainer(info.id, new AbortController().signal);
    const history = await eventually(
      () =>
        Promise.resolve(
          running.state.containerHistory?.crashLoop === undefined
            ? undefined
            : running.state.containerHistory,
        ),
      'a crash loop to be reported',
      30_000,
    );
    expect(history.restarts).toBeGreaterThanOrEqual(3);
    expect(history.lastExit?.exitCode).toBe(3);
    expect(messages(running.logs, 'crash-loop')).toHaveLength(1);
    expect(messages(running.logs, 'restarted').join('\n')).toMatch(/last exit code 3/);
    expect(counted).toContain('crash-loop');
    expect(await running.stop()).toBeUndefined();
  });

  it('reports an OOM kill under a memory limit', async () => {
    const name = uniqueName('oom');
    // 16 MiB without swap; the app tries to hold 128 MiB in one process.
    const id = await createRaw(name, 'head -c 128m /dev/zero | tail; exit 1', {
      Memory: 16 * 1024 * 1024,
      MemorySwap: 16 * 1024 * 1024,
    });
    const running = supervise(name, id);
    await docker.getContainer(id).start();
    const history = await eventually(
      () =>
        Promise.resolve(
          running.state.containerHistory?.oomKills === 0 ? undefined : running.state.containerHistory,
        ),
      'the OOM kill to be reported',
      30_000,
    );
    expect(history.oomKills).toBeGreaterThanOrEqual(1);
    expect(
      running.logs.some((line) => line.kind === 'oom-killed' && /OOM-killed/.test(String(line.msg))),
    ).toBe(true);
    await running.stop();
  });

  it('recreates the container from the same spec when it is removed under it (docker rm -f)', async () => {
    const name = uniqueName('removed');
    const appSpec = spec(name, env.image);
    const info = await runtime.createContainer(appSpec, new AbortController().signal);
    await runtime.startContainer(info.id, new AbortController().signal);
    const counted: string[] = [];
    const running = supervise(name, info.id, { spec: appSpec, counted });
    await eventually(
      () => Promise.resolve(running.state.container?.state === 'running' ? true : undefined),
      'the first inspect',
    );
    await docker.getContainer(info.id).remove({ force: true });
    const recreated = await eventually(async () => {
      const found = await runtime.findContainer(name, new AbortController().signal);
      return found !== undefined && found.id !== info.id && found.state === 'running' ? found : undefined;
    }, 'the container to be recreated and running');
    expect(recreated.labels['io.taupage.config-digest']).toBe('sha256:it');
    await eventually(
      () => Promise.resolve(running.state.container?.id === recreated.id ? true : undefined),
      'the supervisor to follow the new container',
    );
    expect(running.state.containerHistory?.recreated).toBe(1);
    expect(counted).toEqual(expect.arrayContaining(['removed', 'recreated']));
    expect(
      running.logs.filter((line) => line.msg === 'Recreated the container after it was removed'),
    ).toHaveLength(1);
    await running.stop();
  });

  it('returns a power-off reason when the app exits for good under shutdown: on-success', async () => {
    const name = uniqueName('batch');
    const id = await createRaw(name, 'echo done; exit 0');
    const running = supervise(name, id, { shutdown: 'on-success' });
    await docker.getContainer(id).start();
    expect(await running.outcome).toEqual({
      powerOff: 'the container exited with code 0 (shutdown: on-success)',
    });
  });

  it('keeps running under shutdown: on-success while Docker restarts a failing app', async () => {
    const name = uniqueName('batchfail');
    const id = await createRaw(name, 'exit 4');
    const running = supervise(name, id, { shutdown: 'on-success' });
    await docker.getContainer(id).start();
    await eventually(
      () => Promise.resolve((running.state.containerHistory?.restarts ?? 0) >= 2 ? true : undefined),
      'two restarts',
      30_000,
    );
    expect(await running.stop()).toBeUndefined();
  });
});
