import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { AgentProcess } from '../support/agent-process.js';
import { env, eventually } from '../support/test-env.js';

/*
 * Reconcile, Docker events and lifecycle, with the built agent as a process: kill -9 and
 * restart, `docker rm -f`, a crash-looping and an OOM-killed app, events missed while the agent
 * was down, `shutdown:` with the recording host-power double, graceful stop on host shutdown,
 * and the maintenance boot.
 */

const docker = new Docker();
let workDir: string;
const containers: string[] = [];
const images: string[] = [];
const imdsServers: ImdsEmulator[] = [];
const agents: AgentProcess[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'taupage-e2e-lifecycle-'));
});
afterAll(async () => {
  for (const agent of agents.splice(0)) agent.signal('SIGKILL');
  for (const name of containers.splice(0))
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
  for (const image of images.splice(0))
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined);
  for (const imds of imdsServers.splice(0)) await imds.close();
  await rm(workDir, { recursive: true, force: true });
});

interface Instance {
  readonly containerName: string;
  readonly metaDir: string;
  /** The supervisor's memory: shared by every agent run on this "instance". */
  readonly stateFile: string;
  /** Where the host-power double records power-offs; `<file>.stopping` fakes a host shutdown. */
  readonly powerFile: string;
  /** The /run marker of this host boot: a new file is a reboot. */
  bootMarker: string;
}

async function newInstance(): Promise<Instance> {
  const dir = await mkdtemp(join(workDir, 'instance-'));
  const containerName = `taupage-e2e-lc-${randomBytes(4).toString('hex')}`;
  containers.push(containerName);
  return {
    containerName,
    metaDir: join(dir, 'meta'),
    stateFile: join(dir, 'container.json'),
    powerFile: join(dir, 'power'),
    bootMarker: join(dir, 'boot-1'),
  };
}

async function startAgent(instance: Instance, userData: string): Promise<AgentProcess> {
  const imds = await ImdsEmulator.start({
    userData,
    identity: { region: 'eu-central-1', instanceId: 'i-0e2e00000000000lc' },
  });
  imdsServers.push(imds);
  const defaults = join(workDir, 'defaults.yaml');
  await writeFile(defaults, 'root: false\n');
  const agent = new AgentProcess(
    [
      'agent',
      '--imds-url',
      imds.url,
      '--imds-budget',
      '10',
      '--status-listen',
      '127.0.0.1:0',
      '--meta-dir',
      instance.metaDir,
      '--defaults',
      defaults,
      '--container-name',
      instance.containerName,
    ],
    {
      AWS_ACCESS_KEY_ID: 'AKIDE2ETEST',
      AWS_SECRET_ACCESS_KEY: 'e2e-secret-key',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      AWS_CONFIG_FILE: '/nonexistent',
      TAUPAGE_SUPERVISOR_STATE: instance.stateFile,
      TAUPAGE_HOST_POWER: `record:${instance.powerFile}`,
      TAUPAGE_BOOT_MARKER: instance.bootMarker,
    },
  );
  agents.push(agent);
  return agent;
}

function userData(body: string): string {
  return `#taupage-ami-config\nruntime: Docker\napplication_id: e2e-lifecycle\napplication_version: "1.0"\n${body}`;
}

interface Status {
  boot: { state: string; steps: { name: string; outcome: string; detail: string | null }[] };
  container: {
    state: string;
    restartCount: number;
    history: {
      restarts: number;
      exits: number;
      oomKills: number;
      recreated: number;
      gaveUp: boolean;
      crashLoop: { restarts: number } | null;
      lastExit: { exitCode: number | null; oomKilled: boolean } | null;
      recent: { kind: string; message: string; whileAgentDown: boolean }[];
    } | null;
  } | null;
  lifecycle: { maintenance: boolean; shutdown: string; powerOff: { reason: string } | null } | null;
  checks: { name: string; ok: boolean; detail: string }[];
}

async function booted(agent: AgentProcess): Promise<Status> {
  return eventually(
    async () => {
      const status = (await agent.status()) as unknown as Status;
      return status.boot.state === 'booting' ? undefined : status;
    },
    'the boot to finish',
    60_000,
  );
}

async function statusUntil(
  agent: AgentProcess,
  what: string,
  test: (status: Status) => boolean,
): Promise<Status> {
  return eventually(
    async () => {
      const status = (await agent.status()) as unknown as Status;
      return test(status) ? status : undefined;
    },
    what,
    30_000,
  );
}

/** An image whose CMD is `script` (committed locally, never pushed: pull policy if-not-present finds it). */
async function imageRunning(script: string): Promise<string> {
  const tag = randomBytes(4).toString('hex');
  const repo = `${env.registry}/taupage-test/e2e-job`;
  const base = await docker.createContainer({ Image: env.image, Cmd: ['true'] });
  try {
    await base.commit({ repo, tag, changes: [`CMD ["/bin/sh","-c",${JSON.stringify(script)}]`] });
  } finally {
    await base.remove({ force: true });
  }
  images.push(`${repo}:${tag}`);
  return `${repo}:${tag}`;
}

/** Kills the app's main process from the host, like a crash: Docker's restart policy restarts it. */
async function crashApp(name: string): Promise<void> {
  const inspect = await docker.getContainer(name).inspect();
  process.kill(inspect.State.Pid, 'SIGKILL');
}

describe('reconcile: the agent adopts, recreates and reports what happened while it was away', () => {
  let instance: Instance;
  let config: string;

  it('adopts the running container after the agent is killed with SIGKILL (same container, same StartedAt)', async () => {
    instance = await newInstance();
    config = userData(`source: ${env.image}\n`);
    const first = await startAgent(instance, config);
    expect((await booted(first)).boot.state).toBe('succeeded');
    // The supervisor wrote down what it saw: the next run compares with it.
    await eventually(() => readFile(instance.stateFile, 'utf8'), 'the supervisor state file');
    const before = await docker.getContainer(instance.containerName).inspect();
    first.signal('SIGKILL');
    await first.exited;
    const second = await startAgent(instance, config);
    const status = await booted(second);
    expect(status.boot.steps.find((step) => step.name === 'container')?.detail).toMatch(
      /^adopted running container/,
    );
    const after = await docker.getContainer(instance.containerName).inspect();
    expect(after.Id).toBe(before.Id);
    expect(after.State.StartedAt).toBe(before.State.StartedAt);
    second.signal('SIGKILL');
    await second.exited;
  });

  it('reports a restart Docker made while the agent was down (events missed)', async () => {
    await crashApp(instance.containerName);
    await eventually(async () => {
      const inspect = await docker.getContainer(instance.containerName).inspect();
      return inspect.RestartCount === 1 && inspect.State.Running ? true : undefined;
    }, 'Docker to restart the app');
    const agent = await startAgent(instance, config);
    await booted(agent);
    const status = await statusUntil(
      agent,
      'the restart to be reported',
      (s) => (s.container?.history?.restarts ?? 0) > 0,
    );
    expect(status.container?.history?.restarts).toBe(1);
    expect(status.container?.history?.recent).toEqual([
      expect.objectContaining({ kind: 'restarted', whileAgentDown: true }) as unknown,
    ]);
    const lines = agent.logLines.filter((line) => line.kind === 'restarted');
    expect(lines).toHaveLength(1);
    expect(String(lines[0]?.msg)).toMatch(/once while the agent was down \(restart count 1\)/);
    // A restart while the agent runs is seen through the events (with the exit code of the die).
    await crashApp(instance.containerName);
    await statusUntil(agent, 'the second restart', (s) => s.container?.history?.restarts === 2);
    const restarted = agent.logLines.filter((line) => line.kind === 'restarted');
    expect(restarted).toHaveLength(2);
    expect(String(restarted[1]?.msg)).toMatch(/last exit code 137/);
    expect(await agent.stop()).toBe(0);
  });

  it('recreates the container when it is removed while the agent runs (docker rm -f)', async () => {
    const agent = await startAgent(instance, config);
    await booted(agent);
    const before = await docker.getContainer(instance.containerName).inspect();
    await docker.getContainer(instance.containerName).remove({ force: true });
    const status = await statusUntil(
      agent,
      'the container to be recreated',
      (s) => s.container?.history?.recreated === 1 && s.container.state === 'running',
    );
    expect(status.container?.history?.recent.map((item) => item.kind)).toContain('removed');
    const after = await docker.getContainer(instance.containerName).inspect();
    expect(after.Id).not.toBe(before.Id);
    expect(after.Config.Labels['io.taupage.config-digest']).toBe(
      before.Config.Labels['io.taupage.config-digest'],
    );
    expect(after.State.Running).toBe(true);
    expect(await agent.stop()).toBe(0);
  });
});

describe('failing apps: crash loop and OOM kill in /status', () => {
  it('reports restarts with the exit code, then a crash loop, and /healthz turns impaired', async () => {
    const instance = await newInstance();
    const agent = await startAgent(instance, userData(`source: ${env.exitImage}\n`));
    await booted(agent);
    const status = await statusUntil(
      agent,
      'a crash loop',
      (s) => (s.container?.history?.crashLoop ?? null) !== null,
    );
    expect(status.container?.history?.restarts).toBeGreaterThanOrEqual(3);
    expect(status.container?.history?.lastExit?.exitCode).toBe(3);
    expect(status.checks.find((check) => check.name === 'container')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/crash-looping/) as unknown,
    });
    expect(agent.logLines.filter((line) => line.kind === 'crash-loop')).toHaveLength(1);
    expect(await agent.stop()).toBe(0);
  });

  it('reports an OOM kill when the app outgrows docker.memory', async () => {
    const instance = await newInstance();
    const image = await imageRunning('head -c 256m /dev/zero | tail; exit 1');
    const agent = await startAgent(instance, userData(`source: ${image}\ndocker:\n  memory: 16m\n`));
    await booted(agent);
    const inspect = await docker.getContainer(instance.containerName).inspect();
    if (inspect.HostConfig.Memory !== 16 * 1024 * 1024) {
      // docker.memory is mapped by the container-options work; without it there is nothing to kill.
      throw new Error(`docker.memory did not reach Docker (HostConfig.Memory ${inspect.HostConfig.Memory})`);
    }
    const status = await statusUntil(agent, 'the OOM kill', (s) => (s.container?.history?.oomKills ?? 0) > 0);
    expect(status.container?.history?.recent.some((item) => item.kind === 'oom-killed')).toBe(true);
    expect(agent.logLines.some((line) => line.kind === 'oom-killed')).toBe(true);
    expect(await agent.stop()).toBe(0);
  });
});

describe('lifecycle: shutdown policy, graceful stop on host shutdown, maintenance', () => {
  it('shutdown: on-success powers off after the job exits 0, after flushing, and the agent exits 0', async () => {
    const instance = await newInstance();
    const image = await imageRunning('echo job done; exit 0');
    const agent = await startAgent(instance, userData(`source: ${image}\nshutdown: on-success\n`));
    expect(await agent.exited).toBe(0);
    const record = await readFile(instance.powerFile, 'utf8');
    expect(record).toMatch(/^poweroff \S+ the container exited with code 0 \(shutdown: on-success\)\n$/);
    const messages = agent.logLines.map((line) => String(line.msg));
    const powering = messages.findIndex((msg) => msg.startsWith('Powering the instance off'));
    expect(powering).toBeGreaterThan(-1);
    expect(messages.indexOf('Stopped')).toBeGreaterThan(powering);
    expect(messages.indexOf('Power-off requested')).toBeGreaterThan(messages.indexOf('Stopped'));
  });

  it('shutdown: on-success does not power off while a failing job is being restarted', async () => {
    const instance = await newInstance();
    const agent = await startAgent(instance, userData(`source: ${env.exitImage}\nshutdown: on-success\n`));
    await booted(agent);
    const status = await statusUntil(
      agent,
      'two restarts',
      (s) => (s.container?.history?.restarts ?? 0) >= 2,
    );
    expect(status.lifecycle).toMatchObject({ shutdown: 'on-success', powerOff: null, maintenance: false });
    expect(await agent.stop()).toBe(0);
    await expect(readFile(instance.powerFile, 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('shutdown: on-exit powers off when the app is stopped for good (docker stop)', async () => {
    const instance = await newInstance();
    const agent = await startAgent(instance, userData(`source: ${env.image}\nshutdown: on-exit\n`));
    await booted(agent);
    await docker.getContainer(instance.containerName).stop({ t: 1 });
    expect(await agent.exited).toBe(0);
    expect(await readFile(instance.powerFile, 'utf8')).toMatch(
      /exited with code 1[34]7 \(shutdown: on-exit\)/,
    );
  });

  it('an agent restart leaves a finished job alone; a reboot starts it again', async () => {
    const instance = await newInstance();
    const image = await imageRunning('echo job done; exit 0');
    const config = userData(`source: ${image}\n`);
    const first = await startAgent(instance, config);
    await booted(first);
    await statusUntil(first, 'the job to finish', (s) => s.container?.state === 'exited');
    const finished = await docker.getContainer(instance.containerName).inspect();
    first.signal('SIGKILL');
    await first.exited;

    const restarted = await startAgent(instance, config);
    const status = await booted(restarted);
    expect(status.boot.steps.find((step) => step.name === 'container')?.detail).toMatch(
      /^left container [0-9a-f]{12} exited \(code 0\) since this host booted$/,
    );
    const untouched = await docker.getContainer(instance.containerName).inspect();
    expect(untouched.State.StartedAt).toBe(finished.State.StartedAt);
    expect(await restarted.stop()).toBe(0);

    instance.bootMarker = join(workDir, `boot-${randomBytes(3).toString('hex')}`); // a reboot
    const rebooted = await startAgent(instance, config);
    const afterReboot = await booted(rebooted);
    expect(afterReboot.boot.steps.find((step) => step.name === 'container')?.detail).toMatch(
      /^started existing container/,
    );
    await eventually(async () => {
      const inspect = await docker.getContainer(instance.containerName).inspect();
      return inspect.State.StartedAt !== finished.State.StartedAt ? true : undefined;
    }, 'the job to run again');
    expect(await rebooted.stop()).toBe(0);
  });

  it('SIGTERM while the host shuts down stops the app gracefully with docker.stop_timeout (and keeps it)', async () => {
    const instance = await newInstance();
    const agent = await startAgent(instance, userData(`source: ${env.image}\ndocker:\n  stop_timeout: 2\n`));
    await booted(agent);
    await writeFile(`${instance.powerFile}.stopping`, '');
    const startedAt = Date.now();
    expect(await agent.stop()).toBe(0);
    const elapsedMs = Date.now() - startedAt;
    const inspect = await docker.getContainer(instance.containerName).inspect();
    expect(inspect.State.Running).toBe(false);
    const stopping = agent.logLines.find((line) => line.msg === 'Stopping the app container');
    expect(stopping).toMatchObject({ stopTimeoutSeconds: 2, reason: 'host shutting down' });
    // busybox httpd ignores SIGTERM as PID 1: Docker kills it after the 2 s grace.
    expect(elapsedMs).toBeGreaterThanOrEqual(2_000);
    expect(elapsedMs).toBeLessThan(10_000);
  });

  it('maintenance: true boots without starting the app, stops a running one (kept), SUCCESS in /status', async () => {
    const instance = await newInstance();
    const normal = await startAgent(instance, userData(`source: ${env.image}\n`));
    await booted(normal);
    expect(await normal.stop()).toBe(0);
    const running = await docker.getContainer(instance.containerName).inspect();
    expect(running.State.Running).toBe(true);

    const agent = await startAgent(
      instance,
      userData(`source: ${env.image}\nmaintenance: true\ndocker:\n  stop_timeout: 1\n`),
    );
    const status = await booted(agent);
    expect(status.boot.state).toBe('succeeded');
    expect(status.lifecycle).toMatchObject({ maintenance: true });
    expect(status.boot.steps.map((step) => [step.name, step.outcome])).toEqual([
      ['imds', 'succeeded'],
      ['config', 'succeeded'],
      ['kms', 'succeeded'],
      ['host', 'succeeded'],
      ['pull', 'skipped'],
      ['container', 'succeeded'],
      ['health', 'skipped'],
      ['loadbalancer', 'skipped'],
    ]);
    expect(status.boot.steps.find((step) => step.name === 'container')?.detail).toMatch(
      /^maintenance: the app is not started; stopped [0-9a-f]{12} \(kept\)$/,
    );
    expect(status.checks.find((check) => check.name === 'container')).toMatchObject({ ok: true });
    const stopped = await docker.getContainer(instance.containerName).inspect();
    expect(stopped.Id).toBe(running.Id);
    expect(stopped.State.Running).toBe(false);
    expect(await agent.stop()).toBe(0);
  });
});
