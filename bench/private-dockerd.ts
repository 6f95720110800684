// A short-lived second dockerd for bench/logs' awslogs run. Docker's awslogs log driver runs
// inside dockerd and takes its AWS credentials from the daemon's environment; the shared test
// dockerd has none (and must not be restarted), so the bench starts its own daemon with the
// emulator's credentials, uses it for the awslogs containers only, and removes it afterwards.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';

export interface PrivateDockerd {
  readonly docker: Docker;
  readonly pid: number;
  readonly dir: string;
  /** The daemon's socket (DOCKER_HOST=unix://<socket> for a client process). */
  readonly socket: string;
  readonly version: string;
  /** Stops the daemon (SIGTERM, then SIGKILL), unmounts leftovers and removes `dir`. Idempotent. */
  readonly stop: () => Promise<void>;
  /** Restarts dockerd on the same directories and socket (containers survive with --live-restore). */
  readonly restart: () => Promise<void>;
}

export interface PrivateDockerdOptions {
  /** Parent of the temporary directory; not /tmp, which may be a small tmpfs. */
  readonly parent: string;
  /** The daemon's whole environment besides PATH (e.g. AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY). */
  readonly env: Readonly<Record<string, string>>;
  readonly startTimeoutMs?: number;
  /** Where the daemon listens; default `<its dir>/docker.sock`. A test may hand the path out first. */
  readonly socketPath?: string;
  /** Extra dockerd flags (e.g. --live-restore). */
  readonly flags?: readonly string[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function startPrivateDockerd(options: PrivateDockerdOptions): Promise<PrivateDockerd> {
  const dir = await mkdtemp(join(options.parent, 'taupage-bench-dockerd-'));
  const socket = options.socketPath ?? join(dir, 'docker.sock');
  await writeFile(join(dir, 'daemon.json'), '{}\n');
  const docker = new Docker({ socketPath: socket });
  let daemon = await launch(dir, socket, options);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= stopDaemon(dir, daemon.pid, daemon.exited));
  const ready = async (): Promise<void> => {
    const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
    const state = { dead: false };
    void daemon.exited.then(() => {
      state.dead = true;
    });
    for (;;) {
      if (state.dead) throw new Error(`dockerd exited during start-up:\n${await logTail(dir)}`);
      const answered = await docker.ping().then(
        () => true,
        () => false,
      );
      if (answered) return;
      if (Date.now() > deadline)
        throw new Error(`dockerd did not answer on ${socket}:\n${await logTail(dir)}`);
      await sleep(100);
    }
  };
  // SIGTERM to dockerd alone and a new one on the same directories and socket (what
  // `systemctl restart docker` does); with --live-restore the containers keep running.
  const restart = async (): Promise<void> => {
    signal(daemon.pid, 'SIGTERM');
    await daemon.exited;
    daemon = await launch(dir, socket, options);
    await ready();
  };
  try {
    await ready();
    const version = (await docker.version()).Version;
    return {
      docker,
      get pid() {
        return daemon.pid;
      },
      dir,
      socket,
      version,
      stop,
      restart,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function launch(
  dir: string,
  socket: string,
  options: PrivateDockerdOptions,
): Promise<{ pid: number; exited: Promise<void> }> {
  const log = await open(join(dir, 'dockerd.log'), 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      'dockerd',
      [
        `--host=unix://${socket}`,
        `--data-root=${join(dir, 'data')}`,
        `--exec-root=${join(dir, 'exec')}`,
        `--pidfile=${join(dir, 'docker.pid')}`,
        // An empty config file: /etc/docker/daemon.json of a system docker does not apply.
        `--config-file=${join(dir, 'daemon.json')}`,
        '--storage-driver=overlay2',
        // Containers run with --network none: no bridge, no firewall or sysctl changes.
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
        '--ip-forward=false',
        '--ip-masq=false',
        '--shutdown-timeout=2',
        ...(options.flags ?? []),
      ],
      {
        // Its own process group: a Ctrl-C in the terminal reaches the bench, which stops the
        // daemon in order, rather than the daemon directly.
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...options.env },
      },
    );
  } finally {
    await log.close();
  }
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  return { pid: child.pid ?? 0, exited };
}

async function logTail(dir: string): Promise<string> {
  const text = await readFile(join(dir, 'dockerd.log'), 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-10).join('\n');
}

async function stopDaemon(dir: string, pid: number, exited: Promise<void>): Promise<void> {
  const gone = (ms: number): Promise<boolean> =>
    Promise.race([exited.then(() => true), sleep(ms).then(() => false)]);
  if (pid > 0) {
    signal(pid, 'SIGTERM');
    if (!(await gone(20_000))) {
      signal(pid, 'SIGKILL');
      await gone(5_000);
    }
  }
  // After a clean shutdown nothing is left. After a SIGKILL, its managed containerd and any
  // shims (their command lines name our directory) are stopped, and overlay mounts undone.
  for (const leftover of await processesMentioning(dir)) signal(leftover, 'SIGKILL');
  const mounts = (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((mountpoint) => mountpoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountpoint of mounts) spawnSync('umount', ['-l', mountpoint], { stdio: 'ignore' });
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

async function processesMentioning(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(dir)) pids.push(Number(entry));
  }
  return pids;
}
