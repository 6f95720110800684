import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { parseImageReference } from '../../../src/config/image-reference.js';
import {
  buildContainerSpec,
  type ContainerHostPaths,
  type ContainerSpecSettings,
} from '../../../src/docker/container-spec.js';
import { DockerodeContainerRuntime } from '../../../src/docker/dockerode-container-runtime.js';
import { env } from '../../support/test-env.js';

// The original's Docker.py semantics (issue 19, item 5) against the real test dockerd: what the
// app sees of its environment, its user and groups, the Docker CLI of docker_daemon_access, and
// the awslogs driver's defaults.
const execFileAsync = promisify(execFile);
const docker = new Docker();
const runtime = new DockerodeContainerRuntime(docker);
const signal = new AbortController().signal;
const run = `${process.pid}-${randomBytes(3).toString('hex')}`;
/** The test image plus glibc (libc.so.6, ld-linux) from the host: most app images have glibc. */
const GLIBC_IMAGE = `127.0.0.1:5000/taupage-test/semantics-glibc-${run}:1.0`;
const containers: string[] = [];
let workDir = '';
let hostPaths: ContainerHostPaths;

async function create(yaml: string, extra: Partial<ContainerSpecSettings> = {}, image = env.image) {
  const { validation } = loadConfig(Buffer.from(`runtime: Docker\nsource: ${image}\n${yaml}`), {});
  if (validation.config === undefined) throw new Error(JSON.stringify(validation.errors));
  const name = `taupage-sem-${run}-${randomBytes(3).toString('hex')}`;
  containers.push(name);
  const spec = buildContainerSpec(
    validation.config,
    'digest',
    { containerName: name, metaDir: join(workDir, 'meta'), applicationUser: '999:999', hostPaths, ...extra },
    undefined,
  );
  const info = await runtime.createContainer(spec, signal);
  return { id: info.id, inspect: await docker.getContainer(info.id).inspect() };
}

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

beforeAll(async () => {
  await docker.ping();
  const reference = parseImageReference(env.image);
  if (!reference.ok) throw new Error(reference.message);
  if (!(await runtime.imageExists(reference.reference, signal)))
    await runtime.pullImage(reference.reference, {
      auth: undefined,
      signal,
      inactivityTimeoutMs: 30_000,
      deadlineMs: 120_000,
    });
  workDir = await mkdtemp(join(tmpdir(), 'taupage-semantics-'));
  await mkdir(join(workDir, 'meta'), { recursive: true });
  // The Docker CLI the AMI binds: Debian's docker.io, linked against glibc only.
  const { stdout } = await execFileAsync('ldd', ['/usr/bin/docker']);
  const libs = [...stdout.matchAll(/(\/\S+\.so[.\d]*)/g)].map((match) => match[1] ?? '');
  const context = join(workDir, 'glibc');
  const copies: string[] = [];
  for (const [index, lib] of libs.entries()) {
    await mkdir(join(context, String(index)), { recursive: true });
    await copyFile(lib, join(context, String(index), lib.slice(lib.lastIndexOf('/') + 1)));
    copies.push(`COPY ${index}/ ${lib.slice(0, lib.lastIndexOf('/') + 1)}`);
  }
  await writeFile(join(context, 'Dockerfile'), `FROM ${env.image}\n${copies.join('\n')}\n`);
  await execFileAsync('docker', ['build', '--quiet', '--tag', GLIBC_IMAGE, context], {
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
    timeout: 120_000,
  });
  hostPaths = {
    dockerSocket: env.dockerHost.replace(/^unix:\/\//, ''),
    dockerCli: '/usr/bin/docker',
    varLog: join(workDir, 'var-log'),
    customLog: join(workDir, 'var-log-custom'),
    certs: join(workDir, 'certs'),
    mountsRoot: join(workDir, 'mounts'),
  };
}, 180_000);

afterAll(async () => {
  for (const name of containers)
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
  await docker
    .getImage(GLIBC_IMAGE)
    .remove({ force: true })
    .catch(() => undefined);
  if (workDir !== '') await rm(workDir, { recursive: true, force: true });
}, 60_000);

describe('the original’s container semantics, in Docker', () => {
  it('passes YAML booleans as True/False and runs as uid 999 with the image’s group plus 999', async () => {
    const { id, inspect } = await create('environment:\n  FEATURE: true\n  OTHER: off\n  TEXT: "true"\n');
    expect(inspect.Config.User).toBe('999');
    expect(inspect.HostConfig.GroupAdd).toEqual(['999']);
    await docker.getContainer(id).start();
    const env = await exec(id, ['sh', '-c', 'echo "$FEATURE $OTHER $TEXT"']);
    expect(env.out).toBe('True False true');
    // The primary group is the image's for uid 999 (its /etc/passwd entry, else 0), as with the
    // original's -u 999; the application group 999 is a supplementary one.
    const passwd = await exec(id, ['sh', '-c', "awk -F: '$3 == 999 { print $4 }' /etc/passwd"]);
    const imageGroup = passwd.out === '' ? '0' : passwd.out;
    const ids = await exec(id, ['sh', '-c', 'echo "$(id -u) $(id -g)"; id -G']);
    const [uidGid = '', groups = ''] = ids.out.split('\n');
    expect(uidGid).toBe(`999 ${imageGroup}`);
    expect(groups.split(' ')).toContain('999');
  });

  it('gives docker_daemon_access a working Docker CLI (read-only) that talks to the engine', async () => {
    const { id, inspect } = await create('root: true\ndocker_daemon_access: true\n', {}, GLIBC_IMAGE);
    expect(inspect.HostConfig.Binds).toEqual(
      expect.arrayContaining([
        `${hostPaths.dockerSocket}:/var/run/docker.sock`,
        '/usr/bin/docker:/usr/bin/docker:ro',
      ]),
    );
    await docker.getContainer(id).start();
    const version = await exec(id, ['docker', 'version', '--format', '{{.Server.Version}}']);
    const engine = (await docker.version()).Version;
    expect(version).toEqual({ code: 0, out: engine });
    const own = await exec(id, ['docker', 'inspect', '--format', '{{.Name}}', id]);
    expect(own.out).toBe(`/${inspect.Name.slice(1)}`);
    // Read-only: the app cannot replace the host's binary.
    const write = await exec(id, ['sh', '-c', 'echo x > /usr/bin/docker']);
    expect(write.code).not.toBe(0);
  });

  it('creates an awslogs container with the instance id as stream and the instance’s region', async () => {
    const { inspect } = await create(
      'docker:\n  log_driver: awslogs\n  log_opt: {awslogs-group: app-logs}\n',
      {
        instance: { instanceId: 'i-0feedfacecafe0001', region: 'eu-west-1' },
      },
    );
    expect(inspect.HostConfig.LogConfig).toEqual({
      Type: 'awslogs',
      Config: {
        'awslogs-group': 'app-logs',
        'awslogs-stream': 'i-0feedfacecafe0001',
        'awslogs-region': 'eu-west-1',
      },
    });
  });
});
