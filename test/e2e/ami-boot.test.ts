// The AMI, built and booted locally: scripts/ami-build-local.sh runs the Packer template's
// docker source (the same provisioners as the amazon-ebs AMI) on a cached debootstrapped Debian 12
// base, then the image boots here with systemd as PID 1 — what EC2 does with the AMI, minus EC2:
//
// - no --privileged: CAP_SYS_ADMIN (systemd mounts, and the unit's sandboxing needs mount
//   namespaces), tmpfs on /run and /run/lock, the host's cgroup tree read-only, container=docker;
// - --network host: the agent inside reaches the IMDS and KMS emulators on 127.0.0.1, and its
//   health check reaches the app's published port, as on an instance;
// - the app container is created by the test dockerd through its socket, mounted as
//   /run/docker.sock; the image's own docker.service and containerd are replaced by a stand-in
//   that only checks the socket (a dockerd inside an unprivileged container cannot run);
// - /etc/taupage/agent.env (the unit's optional EnvironmentFile) points the agent at the
//   emulators; the image never ships that file (its validate step checks).
//
// Needs root and the test environment (scripts/test-env.sh up); the first run on a machine also
// debootstraps the base (~2 min, cached in /var/tmp/taupage-ami-cache).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { agentNodeLock } from '../../scripts/agent-node.mjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { KmsEmulator } from '../emulators/kms-emulator.js';
import { AGENT_SERVICE_NODE_FLAGS } from '../support/agent-process.js';
import { env, eventually, freePort } from '../support/test-env.js';

const run = promisify(execFile);
const REPO = new URL('../..', import.meta.url).pathname;
const suffix = randomBytes(4).toString('hex');
const SYSTEM = `taupage-ami-boot-${suffix}`; // the "instance": systemd as PID 1
const APP = `taupage-ami-app-${suffix}`; // the application container the agent creates
const secret = `ami-plaintext-${randomBytes(8).toString('hex')}`;

let kms: KmsEmulator | undefined;
let imds: ImdsEmulator | undefined;
let workDir: string | undefined;
let imageId: string;
let statusPort: number;
let appPort: number;
let sshPort: number;
const figures: Record<string, string> = {};

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

/** A command inside the booted system; resolves with stdout, rejects on a non-zero exit. */
async function inSystem(...command: string[]): Promise<string> {
  return docker('exec', SYSTEM, ...command);
}

async function status(): Promise<Record<string, unknown>> {
  const response = await fetch(`http://127.0.0.1:${statusPort}/status`);
  return (await response.json()) as Record<string, unknown>;
}

/** Polls the agent's status endpoint until the boot has finished; returns that status. */
async function bootFinished(timeoutMs: number): Promise<Record<string, unknown>> {
  return eventually(
    async () => {
      const current = await status();
      return (current.boot as { state: string }).state === 'booting' ? undefined : current;
    },
    'the agent in the booted image to finish its boot',
    timeoutMs,
  );
}

async function appContainers(): Promise<string[]> {
  const out = await docker('ps', '-a', '--filter', `name=^/${APP}$`, '--format', '{{.ID}}');
  return out === '' ? [] : out.split('\n');
}

function inWorkDir(name: string): string {
  if (workDir === undefined) throw new Error('beforeAll did not create the work dir');
  return join(workDir, name);
}

async function startSystem(): Promise<void> {
  const socket = env.dockerHost.replace(/^unix:\/\//, '');
  await docker(
    'run',
    '--detach',
    '--name',
    SYSTEM,
    '--network',
    'host',
    '--cap-add',
    'SYS_ADMIN',
    '--tmpfs',
    '/run',
    '--tmpfs',
    '/run/lock',
    '--volume',
    '/sys/fs/cgroup:/sys/fs/cgroup:ro',
    '--env',
    'container=docker',
    // systemd's "clean shutdown" signal, so that `docker restart` is a reboot.
    '--stop-signal',
    'SIGRTMIN+3',
    '--volume',
    `${socket}:/run/docker.sock`,
    '--volume',
    `${inWorkDir('agent.env')}:/etc/taupage/agent.env:ro`,
    '--volume',
    `${inWorkDir('docker.service')}:/etc/systemd/system/docker.service:ro`,
    // A unit file that is /dev/null is a masked unit.
    // The image's sshd runs (its hardened config must start), but on the host's network it must
    // not take port 22: a loopback port instead (sshd_config.d files sort before 50-taupage.conf).
    '--volume',
    `${inWorkDir('sshd-test.conf')}:/etc/ssh/sshd_config.d/10-test-listen.conf:ro`,
    '--volume',
    '/dev/null:/etc/systemd/system/docker.socket:ro',
    '--volume',
    '/dev/null:/etc/systemd/system/containerd.service:ro',
    imageId,
  );
}

beforeAll(async () => {
  // The build and the boot use the test environment's dockerd (DOCKER_HOST), never a default one.
  expect(env.dockerHost).toMatch(/^unix:\/\//);
  const buildStarted = Date.now();
  let built: { stdout: string };
  try {
    built = await run('bash', [join(REPO, 'scripts/ami-build-local.sh')], { maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(
      `scripts/ami-build-local.sh failed:\n${(stderr ?? '').split('\n').slice(-60).join('\n')}`,
      {
        cause: error,
      },
    );
  }
  imageId = built.stdout.trim().split('\n').pop() ?? '';
  expect(imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
  figures.build = `${((Date.now() - buildStarted) / 1000).toFixed(0)} s (scripts/ami-build-local.sh, incl. base image)`;
  figures.size = `${(Number(await docker('image', 'inspect', '--format', '{{.Size}}', imageId)) / 1e6).toFixed(0)} MB`;

  kms = await KmsEmulator.start({ region: 'eu-central-1' });
  appPort = await freePort();
  statusPort = await freePort();
  sshPort = await freePort();
  const userData = [
    '#taupage-ami-config',
    'runtime: Docker',
    'application_id: ami-boot',
    'application_version: "1.0"',
    `source: ${env.image}`,
    'environment:',
    `  DB_PASSWORD: "${kms.encryptForTest(secret)}"`,
    'ports:',
    `  ${appPort}: 8080`,
    'health_check_path: /health',
    '',
  ].join('\n');
  imds = await ImdsEmulator.start({
    userData,
    identity: { region: 'eu-central-1', instanceId: 'i-0a3100000000000b1' },
  });

  workDir = await mkdtemp(join(tmpdir(), 'taupage-ami-boot-'));
  await writeFile(
    join(workDir, 'agent.env'),
    [
      `TAUPAGE_IMDS_URL=${imds.url}`,
      `TAUPAGE_KMS_ENDPOINT=${kms.url}`,
      `TAUPAGE_STATUS_LISTEN=127.0.0.1:${statusPort}`,
      'TAUPAGE_METRICS_LISTEN=off',
      `TAUPAGE_CONTAINER_NAME=${APP}`,
      'AWS_ACCESS_KEY_ID=AKIDAMIBOOTTEST',
      'AWS_SECRET_ACCESS_KEY=ami-boot-secret-key',
      'AWS_SHARED_CREDENTIALS_FILE=/nonexistent',
      'AWS_CONFIG_FILE=/nonexistent',
      '',
    ].join('\n'),
  );
  await writeFile(join(workDir, 'sshd-test.conf'), `ListenAddress 127.0.0.1:${sshPort}\n`);
  await writeFile(
    join(workDir, 'docker.service'),
    [
      '# Test stand-in for the image docker.service: the engine is the host one, via the socket.',
      '[Unit]',
      'Description=host dockerd through /run/docker.sock (ami-boot test)',
      '[Service]',
      'Type=oneshot',
      'RemainAfterExit=yes',
      'ExecStart=/usr/bin/test -S /run/docker.sock',
      '',
    ].join('\n'),
  );
}, 900_000);

afterAll(async () => {
  console.log(
    `AMI figures:\n${Object.entries(figures)
      .map(([name, value]) => `  ${name}: ${value}`)
      .join('\n')}`,
  );
  await docker('rm', '--force', '--volumes', SYSTEM).catch(() => undefined);
  await docker('rm', '--force', APP).catch(() => undefined);
  await imds?.close();
  await kms?.close();
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
}, 120_000);

describe('the Packer template and the provisioning scripts', () => {
  const validate = (...vars: string[]) =>
    run(
      'packer',
      [
        'validate',
        '-only=amazon-ebs.debian',
        '-var',
        `node_package=${join(REPO, 'package-lock.json')}`,
        '-var',
        `node_integrity=sha512-${'0'.repeat(86)}==`,
        '-var',
        'node_version=0.0.0',
        ...vars,
        'packer.pkr.hcl',
      ],
      {
        cwd: REPO,
      },
    );

  it('validates the amazon-ebs source, shared with other accounts under a customer managed key and copied to other regions', async () => {
    await validate(
      '-var',
      'ami_regions=["eu-west-1","us-east-1"]',
      '-var',
      'region_kms_key_ids={"eu-west-1":"alias/taupage-ami","us-east-1":"alias/taupage-ami"}',
      '-var',
      'version=9.9.9',
      '-var',
      'region=eu-west-1',
      '-var',
      'subnet_id=subnet-0123456789abcdef0',
      '-var',
      'ami_users=["111122223333","444455556666"]',
      '-var',
      'kms_key_id=alias/taupage-ami',
    );
  });

  it('refuses to share an AMI encrypted with the default EBS key (other accounts could not launch it)', async () => {
    const result = await validate('-var', 'ami_users=["111122223333"]').catch(
      (error: unknown) => error as { code: number; stdout: string; stderr: string },
    );
    expect(result).toMatchObject({ code: 1 });
    expect(`${result.stdout}${result.stderr}`).toContain('Cannot share AMI encrypted with default KMS key');
  });

  it('has shellcheck-clean scripts', async () => {
    const { stdout } = await run('bash', ['-c', 'ls ami/*.sh ami/post/*.sh scripts/ami-*.sh'], { cwd: REPO });
    const scripts = stdout.trim().split('\n');
    expect(scripts.length).toBeGreaterThan(10);
    await run('shellcheck', scripts, { cwd: REPO });
  });
});

describe('the AMI image (packer build -only=docker.local)', () => {
  it('ships none of what the cleanup removes (checked in the image, before any boot)', async () => {
    const script = [
      'shopt -s nullglob',
      'for path in /etc/ssh/ssh_host_* /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys \\',
      '  /root/.bash_history /home/*/.bash_history /var/lib/cloud/* /var/log/journal/* \\',
      '  /usr/sbin/policy-rc.d /tmp/taupage-build /etc/taupage/agent.env; do',
      '  if [[ -e "$path" || -L "$path" ]]; then echo "present: $path"; fi',
      'done',
      'find /var/log -type f -printf "log file: %p\\n"',
      'test -s /etc/machine-id && echo "machine-id not empty"',
      'test -f /etc/machine-id || echo "machine-id missing"',
      'true',
    ].join('\n');
    const out = await docker(
      'run',
      '--rm',
      '--network',
      'none',
      '--entrypoint',
      '/bin/bash',
      imageId,
      '-c',
      script,
    );
    expect(out).toBe('');
  });

  it('has the application user at 999:999 and the pinned Node.js for the bundle', async () => {
    const out = await docker(
      'run',
      '--rm',
      '--network',
      'none',
      '--entrypoint',
      '/bin/sh',
      imageId,
      '-c',
      'id -u application; id -g application; /usr/local/bin/node --version; taupage version',
    );
    const [uid, gid, node, version] = out.split('\n');
    expect([uid, gid]).toEqual(['999', '999']);
    expect(node).toBe(`v${agentNodeLock().version}`);
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(version).toMatch(new RegExp(`^taupage ${pkg.version.replaceAll('.', '\\.')} `));
  });
  // The primed cache holds every function of the entry and of the chunks the priming script makes
  // eager (ami/files/eager-compile-cache.mjs): a payload V8 would reject (wrong flag hash, header)
  // costs nothing visible but the boot's speed, so it is checked here: every chunk loaded with the
  // unit's node flags, and Node's debug log says "accepted".
  it('has a compile cache that V8 accepts for every chunk, with the node flags of the unit', async () => {
    const script = [
      'import { readdirSync } from "node:fs";',
      'for (const f of readdirSync("/opt/taupage/chunks"))',
      '  if (f.endsWith(".mjs")) await import("/opt/taupage/chunks/" + f);',
    ].join('\n');
    const out = await docker(
      'run',
      '--rm',
      '--network',
      'none',
      '-e',
      'NODE_COMPILE_CACHE=/opt/taupage/compile-cache',
      '-e',
      'NODE_DEBUG_NATIVE=COMPILE_CACHE',
      '--entrypoint',
      '/bin/sh',
      imageId,
      '-c',
      `/usr/local/bin/node ${AGENT_SERVICE_NODE_FLAGS.join(' ')} --input-type=module -e '${script}' 2>&1`,
    );
    const verdicts = [...out.matchAll(/V8 code cache for ESM (\S+) was (\w+)/g)].map(([, file, verdict]) => ({
      file,
      verdict,
    }));
    const chunks = verdicts.filter(({ file }) => file?.includes('/opt/taupage/chunks/'));
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.filter(({ verdict }) => verdict !== 'accepted')).toEqual([]);
  });
});

describe('the AMI booted with systemd as PID 1', () => {
  let firstAppId: string;

  it('starts taupage.service, which brings the app container up healthy', async () => {
    const started = Date.now();
    await startSystem();
    const booted = await bootFinished(120_000);
    figures['boot -> app healthy'] =
      `${((Date.now() - started) / 1000).toFixed(1)} s (docker run -> status endpoint says healthy)`;
    expect(booted.boot).toMatchObject({ state: 'succeeded', error: null });
    expect(booted).toMatchObject({
      instance: { instanceId: 'i-0a3100000000000b1', region: 'eu-central-1' },
      health: { status: 'passing' },
    });
    expect(await inSystem('systemctl', 'is-active', 'taupage.service')).toBe('active');
    expect(await inSystem('cat', '/proc/1/comm')).toBe('systemd');

    const health = await fetch(`http://127.0.0.1:${appPort}/health`);
    expect(await health.text()).toBe('ok');
    const ids = await appContainers();
    expect(ids).toHaveLength(1);
    firstAppId = ids[0] ?? '';
    const inspect = JSON.parse(await docker('inspect', firstAppId)) as {
      State: { Running: boolean };
      Config: { User: string };
    }[];
    expect(inspect[0]).toMatchObject({ State: { Running: true }, Config: { User: '999' } });
  });

  it('leaves no failed units but auditd (which needs CAP_AUDIT_CONTROL, not given to a container)', async () => {
    const failed = await inSystem('systemctl', 'list-units', '--failed', '--plain', '--no-legend', '--full');
    const names = failed === '' ? [] : failed.split('\n').map((line) => line.split(/\s+/)[0]);
    expect(names.filter((name) => name !== 'auditd.service')).toEqual([]);
  });

  it('logs JSON lines to the journal, without the decrypted secret', async () => {
    const journal = await inSystem(
      'journalctl',
      '--unit',
      'taupage.service',
      '--output',
      'cat',
      '--no-pager',
    );
    const json = journal
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; service?: string });
    expect(json.length).toBeGreaterThan(3);
    expect(json.every((line) => line.service === 'taupage')).toBe(true);
    expect(json.map((line) => line.msg)).toContain('Status endpoint listening');
    expect(journal).not.toContain(secret);
  });

  it("writes the journal to /var/log/syslog (the agent's own log included) for logging: to ship", async () => {
    const syslog = await eventually(
      async () => {
        const text = await inSystem('cat', '/var/log/syslog').catch(() => '');
        return text.includes('Status endpoint listening') ? text : undefined;
      },
      "the agent's log lines in /var/log/syslog",
      30_000,
    ).catch(async (error: unknown) => {
      // Say why: rsyslog's own state and what /var/log holds.
      const why = await inSystem('sh', '-c', 'systemctl status rsyslog --no-pager; ls -la /var/log').catch(
        (failure: unknown) => String(failure),
      );
      throw new Error(`${(error as Error).message}\n${why}`);
    });
    expect(syslog).toMatch(/^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ /m);
    expect(syslog).not.toContain(secret);
    expect(await inSystem('stat', '--format', '%a %U:%G', '/var/log/syslog')).toBe('640 root:adm');
  });

  it('carries /etc/taupage-release with the version, the commit and the build time', async () => {
    const release = Object.fromEntries(
      (await inSystem('cat', '/etc/taupage-release'))
        .split('\n')
        .map((line) => line.split('=', 2) as [string, string]),
    );
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
    const { stdout: commit } = await run('git', ['-C', REPO, 'rev-parse', 'HEAD']);
    expect(release.TAUPAGE_VERSION).toBe(pkg.version);
    expect(release.TAUPAGE_COMMIT).toBe(commit.trim());
    const built = Date.parse(release.TAUPAGE_BUILD_TIME ?? '');
    expect(Date.now() - built).toBeLessThan(60 * 60 * 1000);
    expect(Date.now() - built).toBeGreaterThanOrEqual(0);
  });

  it('makes per-instance identity at first boot: a fresh machine-id and SSH host keys', async () => {
    expect(await inSystem('cat', '/etc/machine-id')).toMatch(/^[0-9a-f]{32}$/);
    // Key generation (RSA 3072 included) can outlast the agent's boot on a small machine.
    await eventually(
      async () =>
        (await inSystem('systemctl', 'is-active', 'taupage-ssh-host-keys.service', 'ssh.service')) ===
        'active\nactive'
          ? true
          : undefined,
      'the host keys and sshd',
      60_000,
    );
    expect(await inSystem('sh', '-c', 'ls /etc/ssh/ssh_host_*_key | wc -l')).toBe('3');
    expect(await inSystem('sshd', '-t')).toBe('');
    // Key-only: the server offers no password or keyboard-interactive authentication.
    const banner = await run('docker', [
      'exec',
      SYSTEM,
      'ssh',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-p',
      String(sshPort),
      'nobody@127.0.0.1',
      'true',
    ]).catch((error: unknown) => error as { stderr: string });
    expect(banner.stderr).toMatch(/Permission denied \(publickey\)/);
  });

  it('reports the unit sandbox exposure (systemd-analyze security)', async () => {
    const out = await inSystem('systemd-analyze', 'security', '--no-pager', 'taupage.service');
    const score = /Overall exposure level for taupage\.service: ([\d.]+) (\w+)/.exec(out);
    expect(score).not.toBeNull();
    const [, level = '', label = ''] = score ?? [];
    figures['systemd-analyze security'] = `${level} ${label}`;
    expect(Number(level)).toBeLessThan(7);
  });

  it('reconciles after a reboot: the same app container, adopted, not a second one', async () => {
    const started = Date.now();
    await docker('restart', '--time', '60', SYSTEM);
    // `docker restart` returns once the system has shut down and started again: whatever answers
    // on the status port now is the agent of the new boot.
    const rebooted = await bootFinished(120_000);
    figures['reboot -> app healthy'] =
      `${((Date.now() - started) / 1000).toFixed(1)} s (docker restart, includes the shutdown)`;
    expect(rebooted.boot).toMatchObject({ state: 'succeeded' });
    const steps = (rebooted.boot as { steps: { name: string; detail?: string }[] }).steps;
    expect(steps.find((step) => step.name === 'container')?.detail).toMatch(
      /^adopted running container|^started existing container/,
    );
    expect(await inSystem('systemctl', 'is-active', 'taupage.service')).toBe('active');
    expect(await appContainers()).toEqual([firstAppId]);
    const health = await fetch(`http://127.0.0.1:${appPort}/health`);
    expect(await health.text()).toBe('ok');
  }, 240_000);
});
