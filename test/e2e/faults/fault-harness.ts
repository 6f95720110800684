import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { ImdsEmulator } from '../../emulators/imds-emulator.js';
import { AgentProcess } from '../../support/agent-process.js';
import { env, eventually } from '../../support/test-env.js';

/*
 * The fault campaign's harness (issue 15): the built agent (dist/taupage.mjs) in EC2 mode against
 * the emulators and a real dockerd, with the state an instance keeps across agent restarts
 * (supervisor state, boot marker, meta dir) shared between the agent processes of one "instance".
 */

export interface Instance {
  readonly dir: string;
  readonly containerName: string;
  readonly metaDir: string;
  readonly env: Record<string, string>;
}

export async function newInstance(prefix: string): Promise<Instance> {
  const dir = await mkdtemp(join(tmpdir(), `taupage-faults-${prefix}-`));
  const containerName = `taupage-faults-${prefix}-${randomBytes(4).toString('hex')}`;
  return {
    dir,
    containerName,
    metaDir: join(dir, 'meta'),
    env: {
      TAUPAGE_SUPERVISOR_STATE: join(dir, 'container.json'),
      TAUPAGE_BOOT_MARKER: join(dir, 'boot'),
      TAUPAGE_LOG_STATE_DIR: join(dir, 'logs'),
      TAUPAGE_HOST_POWER: `record:${join(dir, 'power')}`,
    },
  };
}

export function userData(body: string, image = env.image): string {
  return `#taupage-ami-config\nruntime: Docker\napplication_id: e2e-faults\napplication_version: "1.0"\nsource: ${image}\n${body}`;
}

export interface StartOptions {
  readonly userData: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** An IMDS emulator to use (a test that injects IMDS faults); a fresh one otherwise. */
  readonly imds?: ImdsEmulator;
}

/** Everything a campaign file starts, so afterAll can end it (only what it started). */
export class Campaign {
  readonly agents: AgentProcess[] = [];
  readonly imds: ImdsEmulator[] = [];
  readonly containers = new Set<string>();
  readonly dirs: string[] = [];
  readonly images: string[] = [];
  readonly closers: (() => Promise<void>)[] = [];
  readonly docker = new Docker();

  async instance(prefix: string): Promise<Instance> {
    const instance = await newInstance(prefix);
    this.containers.add(instance.containerName);
    this.dirs.push(instance.dir);
    return instance;
  }

  async start(instance: Instance, options: StartOptions): Promise<AgentProcess> {
    const imds =
      options.imds ??
      (await ImdsEmulator.start({
        userData: options.userData,
        identity: { region: 'eu-central-1', instanceId: 'i-0fa17000000000001' },
      }));
    if (options.imds === undefined) this.imds.push(imds);
    const defaults = join(instance.dir, 'defaults.yaml');
    await writeFile(defaults, 'root: false\n');
    const agent = new AgentProcess(
      [
        'agent',
        ...['--imds-url', imds.url, '--imds-budget', '60'],
        ...['--status-listen', '127.0.0.1:0', '--meta-dir', instance.metaDir, '--defaults', defaults],
        ...['--container-name', instance.containerName],
        ...(options.args ?? []),
      ],
      {
        AWS_ACCESS_KEY_ID: 'AKIDFAULTS',
        AWS_SECRET_ACCESS_KEY: 'faults-secret-key',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
        AWS_CONFIG_FILE: '/nonexistent',
        ...instance.env,
        ...options.env,
      },
    );
    this.agents.push(agent);
    return agent;
  }

  /**
   * The test image under a tag of its own, in the test registry but not in the engine: the
   * agent's boot really pulls it (the shared image may be present, and others use it).
   */
  async uniqueImage(script?: string): Promise<string> {
    const tag = `faults-${randomBytes(4).toString('hex')}`;
    const repository = env.image.replace(/:[^:/]+$/, '');
    const reference = `${repository}:${tag}`;
    if (script === undefined) {
      await this.docker.getImage(env.image).tag({ repo: repository, tag });
    } else {
      // The test image with another command (e.g. an app that logs a numbered line at a pace).
      const base = await this.docker.createContainer({ Image: env.image, Cmd: ['true'] });
      try {
        await base.commit({
          repo: repository,
          tag,
          changes: [`CMD ["/bin/sh","-c",${JSON.stringify(script)}]`],
        });
      } finally {
        await base.remove({ force: true });
      }
    }
    const push = await this.docker
      .getImage(reference)
      .push({ authconfig: { username: '', password: '', serveraddress: env.registry } });
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(push, (error: Error | null) => {
        if (error) reject(error);
        else resolve();
      });
    });
    await this.docker.getImage(reference).remove();
    this.images.push(reference);
    return reference;
  }

  async end(): Promise<void> {
    for (const agent of this.agents.splice(0)) agent.signal('SIGKILL');
    for (const name of this.containers)
      await this.docker
        .getContainer(name)
        .remove({ force: true })
        .catch(() => undefined);
    for (const image of this.images.splice(0))
      await this.docker
        .getImage(image)
        .remove()
        .catch(() => undefined);
    for (const imds of this.imds.splice(0)) await imds.close();
    for (const close of this.closers.splice(0).reverse()) await close().catch(() => undefined);
    for (const dir of this.dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  }
}

export interface BootStep {
  name: string;
  outcome: string;
  detail: string | null;
  durationMs: number | null;
}

export async function bootSteps(agent: AgentProcess): Promise<BootStep[]> {
  const status = await agent.status();
  return (status.boot as { steps: BootStep[] }).steps;
}

/** Polls the status endpoint until the boot is no longer `booting`; fails at once if the agent exits. */
export async function bootFinished(
  agent: AgentProcess,
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  const finished = eventually(
    async () => {
      const status = await agent.status();
      return (status.boot as { state: string }).state === 'booting' ? undefined : status;
    },
    'the boot to finish',
    timeoutMs,
  );
  const exited = agent.exited.then((code) => {
    throw new Error(`the agent exited (${String(code)}) before its boot finished:\n${agent.stderr}`);
  });
  return Promise.race([finished, exited]);
}

/** The containers of this name (all states): the user keeps exactly one. */
export async function containersNamed(docker: Docker, name: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { name: [`^/${name}$`] } });
}

/** The containers labelled as taupage's with this name, in any state, including renamed ones. */
export async function appContainers(docker: Docker, name: string): Promise<Docker.ContainerInfo[]> {
  const all = await docker.listContainers({ all: true });
  return all.filter((container) => container.Names.some((n) => n === `/${name}`));
}

/**
 * A Unix-socket proxy in front of the Docker engine that can hold the answer to chosen requests:
 * dockerd gets the request and does the work, the agent does not hear back until `release()`.
 * With it a test kills or stops the agent exactly while it waits for a pull or a create.
 */
export class DockerHoldProxy {
  readonly socketPath: string;
  /** Requests seen, as `METHOD path` (query stripped), in order. */
  readonly requests: string[] = [];
  #hold: RegExp | undefined;
  #held: { flush: () => void }[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server, socketPath: string) {
    this.#server = server;
    this.socketPath = socketPath;
  }

  static async start(dir: string, upstream: string): Promise<DockerHoldProxy> {
    const socketPath = join(dir, `docker-proxy-${randomBytes(3).toString('hex')}.sock`);
    const ref: { proxy?: DockerHoldProxy } = {};
    const server = createServer((client) => {
      ref.proxy?.connect(client, upstream);
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    ref.proxy = new DockerHoldProxy(server, socketPath);
    return ref.proxy;
  }

  /** DOCKER_HOST for the agent. */
  get dockerHost(): string {
    return `unix://${this.socketPath}`;
  }

  /** Holds the answers of requests whose `METHOD path` matches, until `release()`. */
  hold(pattern: RegExp): void {
    this.#hold = pattern;
  }

  /** Resolves when a matching request has been forwarded and its answer is being held. */
  async held(): Promise<void> {
    await eventually(() => Promise.resolve(this.#held.length > 0 ? true : undefined), 'a held request');
  }

  release(): void {
    this.#hold = undefined;
    for (const held of this.#held.splice(0)) held.flush();
  }

  private connect(client: Socket, upstreamPath: string): void {
    const upstream = createConnection(upstreamPath);
    this.#sockets.add(client).add(upstream);
    let holding = false;
    const buffered: Buffer[] = [];
    client.on('data', (chunk: Buffer) => {
      const line = /^([A-Z]+) (\S+) HTTP\/1\.[01]\r\n/.exec(chunk.toString('latin1', 0, 2048));
      if (line !== null) {
        const request = `${line[1] ?? ''} ${(line[2] ?? '').split('?')[0] ?? ''}`;
        this.requests.push(request);
        if (this.#hold?.test(request) === true && !holding) {
          holding = true;
          this.#held.push({
            flush: () => {
              holding = false;
              for (const data of buffered.splice(0)) client.write(data);
            },
          });
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (holding) buffered.push(chunk);
      else client.write(chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) =>
      this.#server.close(() => {
        resolve();
      }),
    );
  }
}

/** The real Docker socket path of the test environment (DOCKER_HOST=unix://...). */
export function testDockerSocket(): string {
  return env.dockerHost.replace(/^unix:\/\//, '');
}
