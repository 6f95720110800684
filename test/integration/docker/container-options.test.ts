import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boot, BOOT_STEPS, type BootDependencies } from '../../../src/app/boot.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { parseImageReference, type ImageReference } from '../../../src/config/image-reference.js';
import type { TaupageConfig } from '../../../src/config/taupage-config.js';
import { systemClock } from '../../../src/core/clock.js';
import { Redactor } from '../../../src/core/redactor.js';
import { Secret } from '../../../src/core/secret.js';
import { buildContainerSpec, type ContainerHostPaths } from '../../../src/docker/container-spec.js';
import { DockerodeContainerRuntime } from '../../../src/docker/dockerode-container-runtime.js';
import { ConfigSecrets } from '../../../src/secrets/decrypt-config-secrets.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { FakeInstanceMetadata } from '../../fakes/fake-instance-metadata.js';
import { FakeSecretDecrypter } from '../../fakes/fake-secret-decrypter.js';
import { env, eventually, freePort } from '../../support/test-env.js';

const docker = new Docker();
const runtime = new DockerodeContainerRuntime(docker);
const signal = new AbortController().signal;
const run = `${process.pid}-${randomBytes(3).toString('hex')}`;
/** Our own tag of the test image: another test file removing env.image cannot take it away. */
const IMAGE = `127.0.0.1:5000/taupage-test/options-${run}:1.0`;
/** HEALTHCHECK passes once /tmp/ready exists (never unhealthy in the test's time). */
const GATED_IMAGE = `127.0.0.1:5000/taupage-test/options-gated-${run}:1.0`;
/** HEALTHCHECK always fails: unhealthy after two probes. */
const UNHEALTHY_IMAGE = `127.0.0.1:5000/taupage-test/options-unhealthy-${run}:1.0`;
const MS = 1_000_000; // Docker's health durations are nanoseconds
const containers: string[] = [];
let workDir = '';
let hostPaths: ContainerHostPaths;

function reference(source: string): ImageReference {
  const parsed = parseImageReference(source);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.reference;
}

function config(yaml: string, source = IMAGE): TaupageConfig {
  const { validation } = loadConfig(Buffer.from(`runtime: Docker\nsource: ${source}\n${yaml}`), {});
  if (validation.config === undefined) throw new Error(JSON.stringify(validation.errors));
  return validation.config;
}

function uniqueName(what: string): string {
  const name = `taupage-opt-${what}-${run}-${randomBytes(3).toString('hex')}`;
  containers.push(name);
  return name;
}

/** Creates (and optionally starts) the container the config describes, through the real adapter. */
async function create(yaml: string, options: { start?: boolean; secrets?: ConfigSecrets } = {}) {
  const name = uniqueName('spec');
  const spec = buildContainerSpec(
    config(yaml),
    'digest',
    { containerName: name, metaDir: join(workDir, 'meta'), applicationUser: '999:999', hostPaths },
    options.secrets,
  );
  const info = await runtime.createContainer(spec, signal);
  if (options.start === true) await runtime.startContainer(info.id, signal);
  return { id: info.id, inspect: await docker.getContainer(info.id).inspect() };
}

/** `docker exec`: exit code and output of a command in the running container. */
async function exec(id: string, cmd: string[]): Promise<{ code: number; out: string }> {
  const execution = await docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await execution.start({ hijack: true, stdin: false });
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on('data', (chunk: Buffer) => chunks.push(chunk));
  docker.modem.demuxStream(stream, output, output);
  await new Promise<void>((resolve, reject) => {
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  const { ExitCode } = await execution.inspect();
  return { code: ExitCode ?? -1, out: Buffer.concat(chunks).toString('utf8').trim() };
}

/** An image from IMAGE with a HEALTHCHECK, made offline: docker commit keeps the container's config. */
async function commitWithHealthcheck(tag: string, test: string[], retries: number): Promise<void> {
  const container = await docker.createContainer({
    Image: IMAGE,
    name: uniqueName('build'),
    Healthcheck: { Test: test, Interval: 200 * MS, Timeout: 2_000 * MS, Retries: retries },
  });
  const [repo, version] = [tag.slice(0, tag.lastIndexOf(':')), tag.slice(tag.lastIndexOf(':') + 1)];
  await container.commit({ repo, tag: version });
  await container.remove({ force: true });
}

beforeAll(async () => {
  await docker.ping();
  if (!(await runtime.imageExists(reference(env.image), signal))) {
    await runtime.pullImage(reference(env.image), {
      auth: undefined,
      signal,
      inactivityTimeoutMs: 30_000,
      deadlineMs: 120_000,
    });
  }
  await docker.getImage(env.image).tag({ repo: IMAGE.slice(0, -':1.0'.length), tag: '1.0' });
  await commitWithHealthcheck(GATED_IMAGE, ['CMD', 'test', '-f', '/tmp/ready'], 10_000);
  await commitWithHealthcheck(UNHEALTHY_IMAGE, ['CMD', 'false'], 2);

  workDir = await mkdtemp(join(tmpdir(), 'taupage-options-'));
  hostPaths = {
    dockerSocket: env.dockerHost.replace(/^unix:\/\//, ''),
    varLog: join(workDir, 'var-log'),
    customLog: join(workDir, 'var-log-custom'),
    certs: join(workDir, 'certs'),
    mountsRoot: join(workDir, 'mounts'),
  };
  for (const dir of [join(workDir, 'meta'), hostPaths.varLog, hostPaths.customLog, hostPaths.certs]) {
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o777); // the app runs as 999:999
  }
  await mkdir(join(hostPaths.mountsRoot, 'data'), { recursive: true, mode: 0o777 });
  await chmod(join(hostPaths.mountsRoot, 'data'), 0o777);
  await writeFile(join(hostPaths.varLog, 'syslog'), 'host syslog line\n');
  await writeFile(join(hostPaths.certs, 'ca.pem'), 'host trust store\n');
}, 120_000);

afterAll(async () => {
  for (const name of containers)
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
  for (const image of [IMAGE, GATED_IMAGE, UNHEALTHY_IMAGE])
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined);
  if (workDir !== '') await rm(workDir, { recursive: true, force: true });
}, 60_000);

describe('container options land in Docker (docker inspect)', () => {
  it('maps every option to HostConfig and Config', async () => {
    const token = Buffer.from('log-opt-ciphertext');
    const { inspect } = await create(
      [
        'privileged: true',
        'read_only: true',
        'shm_size: 128m',
        'hostname: kio-options',
        'capabilities_add: [NET_ADMIN, SYS_PTRACE]',
        'capabilities_drop: [MKNOD]',
        'tokeninfo_url: https://auth.example.org/oauth2/tokeninfo',
        'ports:',
        '  18080: 8080',
        'docker:',
        '  log_driver: json-file',
        '  log_opt:',
        '    max-file: "2"',
        `    labels: "aws:kms:${token.toString('base64')}"`,
        '  stop_timeout: 42',
        '  memory: 64m',
        '  memory_reservation: 32m',
        '  cpus: 0.5',
        '  cpu_shares: 256',
      ].join('\n') + '\n',
      { secrets: new ConfigSecrets(new Map([[token.toString('base64'), new Secret('io.taupage.managed')]])) },
    );
    const host = inspect.HostConfig;
    expect(host).toMatchObject({
      Privileged: true,
      ReadonlyRootfs: true,
      ShmSize: 128 * 1024 ** 2,
      NetworkMode: 'bridge',
      CapAdd: ['NET_ADMIN', 'SYS_PTRACE'],
      CapDrop: ['MKNOD'],
      Memory: 64 * 1024 ** 2,
      MemoryReservation: 32 * 1024 ** 2,
      NanoCpus: 500_000_000,
      CpuShares: 256,
      LogConfig: {
        Type: 'json-file',
        Config: { 'max-size': '50m', 'max-file': '2', labels: 'io.taupage.managed' },
      },
      PortBindings: { '8080/tcp': [{ HostIp: '', HostPort: '18080' }] },
    });
    expect(inspect.Config.Hostname).toBe('kio-options');
    expect((inspect.Config as { StopTimeout?: number }).StopTimeout).toBe(42);
    expect(inspect.Config.Env).toEqual(
      expect.arrayContaining([
        'TOKENINFO_URL=https://auth.example.org/oauth2/tokeninfo',
        'CREDENTIALS_DIR=/meta/credentials',
      ]),
    );
  });

  it('binds /meta, mounts: entries and each mount flag, and for docker_daemon_access only the socket', async () => {
    const { inspect } = await create(
      'mount_var_log: true\nmount_custom_log: true\nmount_certs: true\ndocker_daemon_access: true\n' +
        'mounts:\n  /data:\n    erase_on_boot: false\n',
    );
    expect(inspect.HostConfig.Binds).toEqual([
      `${join(workDir, 'meta')}:/meta:ro`,
      `${hostPaths.mountsRoot}/data:/data`,
      `${hostPaths.varLog}:/var/log-host:ro`,
      `${hostPaths.customLog}:/var/log`,
      `${hostPaths.certs}:/etc/ssl/certs:ro`,
      `${hostPaths.dockerSocket}:/var/run/docker.sock`,
    ]);
    expect(inspect.HostConfig.Binds?.some((bind) => /docker(?!\.sock)|\/lib/.test(bind))).toBe(false);
  });

  it('leaves ports unpublished with networking: none', async () => {
    const { inspect } = await create('networking: none\nports:\n  18081: 8080\n');
    expect(inspect.HostConfig.NetworkMode).toBe('none');
    expect(inspect.HostConfig.PortBindings).toEqual({});
  });
});

describe('container options at work inside the container', () => {
  it('read_only, hostname, memory and CPU limits, shm_size and capabilities', async () => {
    const { id } = await create(
      'root: true\nread_only: true\nhostname: kio-inside\nshm_size: 16m\n' +
        'capabilities_drop: [ALL]\ncapabilities_add: [NET_ADMIN]\n' +
        'docker:\n  memory: 48m\n  cpus: 0.5\n',
      { start: true },
    );
    const write = await exec(id, ['sh', '-c', 'echo x > /written']);
    expect(write.code).not.toBe(0);
    expect(write.out).toMatch(/Read-only file system/);
    expect((await exec(id, ['hostname'])).out).toBe('kio-inside');
    const memory = await exec(id, [
      'sh',
      '-c',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max',
    ]);
    expect(memory.out).toBe(String(48 * 1024 ** 2));
    const cpu = await exec(id, [
      'sh',
      '-c',
      'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max',
    ]);
    expect(cpu.out.split(/\s+/).map(Number)).toEqual([50_000, 100_000]);
    const shm = await exec(id, ['sh', '-c', "df -k /dev/shm | tail -1 | awk '{print $2}'"]);
    expect(Number(shm.out)).toBe(16 * 1024);
    // The bounding set: only CAP_NET_ADMIN (bit 12) is left.
    const caps = await exec(id, ['sh', '-c', 'grep CapBnd /proc/self/status']);
    expect(caps.out).toMatch(/^CapBnd:\s+0000000000001000$/);
  });

  it('the mount flags, mounts: and the docker socket are usable as the original mounted them', async () => {
    const { id } = await create(
      'mount_var_log: true\nmount_custom_log: true\nmount_certs: true\ndocker_daemon_access: true\n' +
        'mounts:\n  /data:\n    erase_on_boot: false\n',
      { start: true },
    );
    expect((await exec(id, ['cat', '/var/log-host/syslog'])).out).toBe('host syslog line');
    expect((await exec(id, ['sh', '-c', 'echo x > /var/log-host/new'])).code).not.toBe(0);
    expect((await exec(id, ['sh', '-c', 'echo app line > /var/log/app.log'])).code).toBe(0);
    expect(await readFile(join(hostPaths.customLog, 'app.log'), 'utf8')).toBe('app line\n');
    expect((await exec(id, ['cat', '/etc/ssl/certs/ca.pem'])).out).toBe('host trust store');
    expect((await exec(id, ['sh', '-c', 'echo x > /etc/ssl/certs/evil.pem'])).code).not.toBe(0);
    expect((await exec(id, ['sh', '-c', 'echo kept > /data/state'])).code).toBe(0);
    expect(await readFile(join(hostPaths.mountsRoot, 'data', 'state'), 'utf8')).toBe('kept\n');
    expect((await exec(id, ['test', '-S', '/var/run/docker.sock'])).code).toBe(0);
    expect((await exec(id, ['test', '-e', '/usr/bin/docker'])).code).not.toBe(0);
  });

  it('networking: none leaves only the loopback interface', async () => {
    const { id } = await create('networking: none\n', { start: true });
    expect((await exec(id, ['ls', '/sys/class/net'])).out).toBe('lo');
  });
});

describe('an image HEALTHCHECK gates the boot', () => {
  function bootWith(source: string, yaml: string) {
    const name = uniqueName('boot');
    const state = new AgentState(new BootTimeline(systemClock, BOOT_STEPS), {
      version: 'test',
      commit: 'test',
      mode: 'ec2',
      startedAt: new Date().toISOString(),
    });
    const deps: BootDependencies = {
      metadata: new FakeInstanceMetadata(`#taupage-ami-config\nruntime: Docker\nsource: ${source}\n${yaml}`),
      secretDecrypter: () => new FakeSecretDecrypter(),
      runtime,
      clock: systemClock,
      log: pino({ level: 'silent' }),
      redactor: new Redactor(),
      state,
      settings: {
        defaults: {},
        metaDir: join(workDir, 'meta'),
        containerName: name,
        applicationUser: '999:999',
        pullInactivityTimeoutMs: 30_000,
        healthCheckHost: '127.0.0.1',
        hostPaths,
      },
    };
    return { name, state, result: boot(deps, signal) };
  }

  it('waits for Docker’s healthy as well as the HTTP check when both exist', async () => {
    const port = await freePort();
    const { name, state, result } = bootWith(
      GATED_IMAGE,
      `ports:\n  ${port}: 8080\nhealth_check_path: /health\nhealth_check_timeout_seconds: 60\n`,
    );
    let settled = false;
    void result.then(
      () => (settled = true),
      () => (settled = true),
    );
    const info = await eventually(async () => {
      const found = await runtime.findContainer(name, signal);
      return found?.health === 'starting' ? found : undefined;
    }, 'the container to run with health starting');
    // The HTTP check passes at once; the boot keeps waiting for Docker's HEALTHCHECK.
    await eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      return response.status === 200 ? true : undefined;
    }, 'the HTTP health endpoint');
    // Give the boot time to see the HTTP 200: Docker probes three more times meanwhile (≥ 600 ms).
    const since = Date.now();
    await eventually(async () => {
      const log = (await docker.getContainer(info.id).inspect()).State.Health?.Log ?? [];
      return log.filter((entry) => Date.parse(entry.Start) > since).length >= 3 ? true : undefined;
    }, 'three more HEALTHCHECK probes');
    expect(settled).toBe(false);
    expect(state.timeline.steps.find((step) => step.name === 'health')?.outcome).toBe('running');
    expect((await exec(info.id, ['touch', '/tmp/ready'])).code).toBe(0);
    const booted = await result;
    expect(booted.container?.id).toBe(info.id);
    const health = state.timeline.steps.find((step) => step.name === 'health');
    expect(health?.outcome).toBe('succeeded');
    expect(health?.detail).toMatch(/^HTTP 200 from .* after \d+ probes?; Docker HEALTHCHECK healthy after/);
    expect(state.health.status).toBe('passing');
  }, 60_000);

  it('fails the boot with CONTAINER_UNHEALTHY when Docker reports unhealthy', async () => {
    const { state, result } = bootWith(UNHEALTHY_IMAGE, 'health_check_timeout_seconds: 60\n');
    await expect(result).rejects.toMatchObject({
      code: 'CONTAINER_UNHEALTHY',
      message: expect.stringMatching(
        /^Docker HEALTHCHECK of the image reported the container unhealthy/,
      ) as string,
    });
    expect(state.timeline.steps.find((step) => step.name === 'health')?.outcome).toBe('failed');
  }, 60_000);

  it('honours health_check_timeout_seconds while Docker still says starting', async () => {
    const { result } = bootWith(GATED_IMAGE, 'health_check_timeout_seconds: 2\n');
    await expect(result).rejects.toMatchObject({
      code: 'HEALTH_CHECK_TIMEOUT',
      message:
        'Docker HEALTHCHECK of the image did not report healthy within 2 s (last: starting, container running)',
    });
  }, 60_000);

  it('skips the health step for an image without HEALTHCHECK and no health_check_path', async () => {
    const { state, result } = bootWith(IMAGE, '');
    await result;
    expect(state.timeline.steps.find((step) => step.name === 'health')?.outcome).toBe('skipped');
  }, 60_000);
});
