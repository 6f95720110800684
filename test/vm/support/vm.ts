// The taupage image as a virtual machine (QEMU): the disk scripts/ami-disk-local.sh makes from
// the local AMI build, booted with the image's own kernel, systemd, dockerd and containerd.
// Used by test/vm/*.test.ts and bench/instance-boot.ts.
//
// The machine sees what an EC2 instance sees, nothing written into its disk for the test:
// - QEMU user networking on 169.254.0.0/16: the guest gets 169.254.0.15 by DHCP, the host is
//   169.254.0.2 (QEMU forwards it to the host's 127.0.0.1: the test registry, the emulators),
//   and 169.254.169.254:80 is forwarded (guestfwd) to the IMDS emulator, so the agent uses its
//   real default IMDS address;
// - test endpoints (KMS, CloudFormation, EC2 emulators) reach the agent through the kernel
//   command line: `systemd.setenv=NAME=VALUE` is systemd's own way to give every unit an
//   environment variable, so the image needs no test file and no test hook;
// - the test registry on the host speaks plain HTTP at 169.254.0.2:PORT: dockerd gets
//   `--insecure-registry` the same way (DOCKER_OPTS, which Debian's docker.service passes on);
// - commands inside the guest go through systemd's debug shell (`systemd.debug_shell=/dev/ttyS1`,
//   a root shell from systemd-debug-generator) on the second serial port, a unix socket here;
// - the first serial port is the console (kernel, systemd, the agent's console lines), kept in a
//   file that a failing test attaches.
// Every VM gets a copy-on-write overlay (qcow2) on the cached disk, so boots never change it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = new URL('../../..', import.meta.url).pathname;

/** The gateway of QEMU's user network: the host's 127.0.0.1 as the guest sees it. */
export const HOST_FROM_GUEST = '169.254.0.2';
export const IMDS_ADDRESS = '169.254.169.254';

export interface VmDisk {
  dir: string;
  rootRaw: string;
  kernel: string;
  initrd: string;
  imageId: string;
  kernelVersion: string;
  /** Seconds the build and conversion took in this call (0 when the cached disk was used). */
  buildSeconds: number;
}

export type Accel = 'kvm' | 'tcg';

/** CSI and charset sequences a terminal line may carry (ESC [ … letter, ESC ( X). */
const ESCAPE_SEQUENCE = new RegExp(`${String.fromCharCode(27)}(\\[[0-9;?]*[A-Za-z]|[()][A-Z0-9])`, 'g');

/**
 * Builds (or finds cached) the VM disk of the tree at `repo`: scripts/ami-disk-local.sh. (A
 * bundled caller, such as the bench, passes the repository: import.meta.url is its bundle's.)
 */
export async function prepareDisk(repo = REPO): Promise<VmDisk> {
  const started = Date.now();
  let stdout: string;
  try {
    ({ stdout } = await run('bash', [join(repo, 'scripts/ami-disk-local.sh')], { maxBuffer: 64 << 20 }));
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(
      `scripts/ami-disk-local.sh failed:\n${(stderr ?? '').split('\n').slice(-60).join('\n')}`,
      {
        cause: error,
      },
    );
  }
  const dir = stdout.trim().split('\n').pop() ?? '';
  const values = Object.fromEntries(
    (await readFile(join(dir, 'disk.env'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => line.split('=', 2) as [string, string]),
  );
  const seconds = (Date.now() - started) / 1000;
  return {
    dir,
    rootRaw: join(dir, 'root.raw'),
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.img'),
    imageId: values.IMAGE_ID ?? '',
    kernelVersion: values.KERNEL_VERSION ?? '',
    buildSeconds: seconds > 5 ? Math.round(seconds) : 0,
  };
}

let probed: Promise<Accel> | undefined;

/**
 * KVM when a guest really runs on it, else TCG (software emulation). TAUPAGE_VM_ACCEL=kvm|tcg
 * skips the probe. The probe boots the image's kernel with KVM for a few seconds and looks for
 * its first console line: on some hosts /dev/kvm exists but a guest aborts or spins silently.
 */
export function accel(disk: VmDisk): Promise<Accel> {
  probed ??= probeAccel(disk);
  return probed;
}

async function probeAccel(disk: VmDisk): Promise<Accel> {
  const forced = process.env.TAUPAGE_VM_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return 'tcg';
  }
  const child = spawn(
    'qemu-system-x86_64',
    [
      ...['-accel', 'kvm', '-cpu', 'host', '-m', '256', '-nodefaults', '-no-user-config', '-display', 'none'],
      ...['-no-reboot', '-serial', 'stdio', '-kernel', disk.kernel],
      ...['-append', 'console=ttyS0 panic=-1 rdinit=/nonexistent'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const ran = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      resolve(false);
    }, 8_000);
    child.stdout.on('data', () => {
      if (output.includes('Linux version')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(output.includes('Linux version'));
    });
  });
  child.kill('SIGKILL');
  return ran ? 'kvm' : 'tcg';
}

export interface VmOptions {
  disk: VmDisk;
  accel: Accel;
  /** Another disk image (raw) to boot instead of disk.rootRaw, e.g. the bench's baseline. */
  rootImage?: string;
  memoryMiB?: number;
  cpus?: number;
  /** Host port of the IMDS emulator (listening on 127.0.0.1), forwarded to 169.254.169.254:80. */
  imdsPort: number;
  /** host 127.0.0.1:host → guest :guest */
  forwards?: { host: number; guest: number }[];
  /** Environment for every unit (systemd.setenv on the kernel command line). */
  env?: Record<string, string>;
  /** Registries (host:port) dockerd may reach over plain HTTP. */
  insecureRegistries?: string[];
  /** More QEMU arguments (extra disks, NVMe devices, …). */
  qemuArgs?: string[];
  /** A root shell on ttyS1 (systemd.debug_shell); the bench boots without it. */
  debugShell?: boolean;
}

export class Vm {
  readonly consolePath: string;
  /** performance.now() when QEMU was spawned (power-on). */
  readonly poweredOnAt: number;
  /** Resolves with QEMU's exit code when the machine is off (powered off or killed). */
  readonly exited: Promise<number | null>;
  #exitCode: number | null | undefined;
  #shell: Socket | undefined;
  #shellBuffer = '';
  #shellQueue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly child: ChildProcess,
    private readonly workDir: string,
    private readonly shellPath: string,
  ) {
    this.consolePath = join(workDir, 'console.log');
    this.poweredOnAt = performance.now();
    this.exited = new Promise((resolve) => {
      child.on('exit', (code) => {
        this.#exitCode = code;
        resolve(code);
      });
    });
  }

  static async start(options: VmOptions): Promise<Vm> {
    const workDir = await mkdtemp(join(tmpdir(), 'tpvm-'));
    const overlay = join(workDir, 'root.qcow2');
    await run('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-F',
      'raw',
      '-b',
      options.rootImage ?? options.disk.rootRaw,
      overlay,
    ]);
    const shellPath = join(workDir, 'shell.sock');
    const env = { ...options.env };
    if (options.insecureRegistries?.length) {
      env.DOCKER_OPTS = options.insecureRegistries
        .map((registry) => `--insecure-registry=${registry}`)
        .join(' ');
    }
    const cmdline = [
      'root=/dev/vda',
      'rw',
      'console=ttyS0',
      'panic=-1',
      // No entropy wait, no predictable-name surprise: the interface is what EC2's would be.
      'random.trust_cpu=on',
      // Under software emulation every byte through the emulated UART costs CPU: the kernel's
      // messages and systemd's animated status lines ("A start job is running…", redrawn every
      // second of a slow boot) stay off the console; errors, the agent's own console lines
      // (StandardOutput=journal+console) and the kernel's power-off line stay on it.
      'quiet',
      'systemd.show_status=error',
      // CPU vulnerability mitigations protect nothing in a throwaway test guest and cost cycles
      // under TCG. (Test-only: the image's own boot configuration is not changed.)
      'mitigations=off',
      ...(options.debugShell ? ['systemd.debug_shell=/dev/ttyS1'] : []),
      ...Object.entries(env).map(([name, value]) => {
        if (/[\s"]/.test(name) || /"/.test(value))
          throw new Error(`cannot pass ${name} on the kernel command line`);
        return /\s/.test(value) ? `"systemd.setenv=${name}=${value}"` : `systemd.setenv=${name}=${value}`;
      }),
    ].join(' ');
    const forwards = (options.forwards ?? []).map(
      ({ host, guest }) => `,hostfwd=tcp:127.0.0.1:${host}-:${guest}`,
    );
    const netdev =
      `user,id=net0,net=169.254.0.0/16,host=${HOST_FROM_GUEST},dhcpstart=169.254.0.15` +
      `,guestfwd=tcp:${IMDS_ADDRESS}:80-cmd:socat STDIO TCP:127.0.0.1:${options.imdsPort}` +
      forwards.join('');
    const args = [
      ...['-accel', options.accel, '-cpu', options.accel === 'kvm' ? 'host' : 'max'],
      ...['-machine', 'q35', '-smp', String(options.cpus ?? 2), '-m', String(options.memoryMiB ?? 1536)],
      ...['-nodefaults', '-no-user-config', '-display', 'none'],
      ...['-kernel', options.disk.kernel, '-initrd', options.disk.initrd, '-append', cmdline],
      ...['-drive', `file=${overlay},if=virtio,format=qcow2,cache=unsafe,discard=unmap`],
      ...['-netdev', netdev, '-device', 'virtio-net-pci,netdev=net0'],
      ...['-device', 'virtio-rng-pci'],
      ...['-serial', `file:${join(workDir, 'console.log')}`],
      ...['-serial', `unix:${shellPath},server=on,wait=off`],
      ...(options.qemuArgs ?? []),
    ];
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const vm = new Vm(child, workDir, shellPath);
    // QEMU fails at once on a bad argument: say so instead of timing out later.
    const early = await Promise.race([
      vm.exited.then((code) => ({ code })),
      new Promise<undefined>((resolve) => {
        setTimeout(() => {
          resolve(undefined);
        }, 500);
      }),
    ]);
    if (early !== undefined) {
      await rm(workDir, { recursive: true, force: true });
      throw new Error(`qemu-system-x86_64 exited at once (${early.code}): ${stderr.trim()}`);
    }
    return vm;
  }

  get running(): boolean {
    return this.#exitCode === undefined;
  }

  async console(): Promise<string> {
    return readFile(this.consolePath, 'utf8').catch(() => '');
  }

  /** The last lines of the serial console, for an error message. */
  async consoleTail(lines = 120): Promise<string> {
    return (await this.console()).split('\n').slice(-lines).join('\n');
  }

  /**
   * Runs a shell command as root in the guest (systemd's debug shell on ttyS1) and returns its
   * output (stdout and stderr) and exit status. Commands are serialized.
   */
  sh(command: string, timeoutMs = 60_000): Promise<{ output: string; code: number }> {
    const result = this.#shellQueue.then(() => this.#exec(command, timeoutMs));
    this.#shellQueue = result.catch(() => undefined);
    return result;
  }

  /** Like sh(), but rejects on a non-zero exit; resolves with the output, trimmed. */
  async run(command: string, timeoutMs = 60_000): Promise<string> {
    const { output, code } = await this.sh(command, timeoutMs);
    if (code !== 0) throw new Error(`in the guest: ${command}: exit ${code}: ${output.trim()}`);
    return output.trim();
  }

  /** Waits until the debug shell answers (the guest's systemd is up), with the console on failure. */
  async waitForShell(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running)
        throw new Error(`the VM is off (exit ${this.#exitCode}):\n${await this.consoleTail()}`);
      try {
        await this.sh('true', 3_000);
        return;
      } catch {
        this.#dropShell();
      }
      if (Date.now() > deadline) {
        throw new Error(
          `the VM's shell did not answer within ${timeoutMs} ms; console:\n${await this.consoleTail()}`,
        );
      }
    }
  }

  async #exec(command: string, timeoutMs: number): Promise<{ output: string; code: number }> {
    const socket = await this.#connect();
    const id = randomBytes(6).toString('hex');
    // The command travels base64-encoded: no tty special characters, one short line. The markers
    // are assembled by printf, so the terminal's echo of this line never matches them.
    const encoded = Buffer.from(command).toString('base64').replaceAll('\n', '');
    const line = `stty -echo 2>/dev/null; printf '\\n%s-%s\\n' BEGIN ${id}; echo ${encoded} | base64 -d | bash 2>&1; printf '\\n%s-%s %s\\n' END ${id} $?\n`;
    this.#shellBuffer = '';
    socket.write(line);
    const begin = `BEGIN-${id}\n`;
    const end = new RegExp(`\\nEND-${id} (\\d+)\\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.#shellBuffer.replaceAll('\r', '');
      const start = text.indexOf(begin);
      if (start >= 0) {
        const match = end.exec(text.slice(start + begin.length - 1));
        if (match) {
          // Terminal control sequences (erase-line and the like) are not output.
          const body = text
            .slice(start + begin.length, start + begin.length - 1 + match.index)
            .replaceAll(ESCAPE_SEQUENCE, '');
          return { output: body, code: Number(match[1]) };
        }
      }
      if (!this.running) throw new Error(`the VM went off during: ${command}`);
      if (Date.now() > deadline)
        throw new Error(`no answer within ${timeoutMs} ms from the guest to: ${command}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async #connect(): Promise<Socket> {
    if (this.#shell && !this.#shell.destroyed) return this.#shell;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(this.shellPath);
      s.once('connect', () => {
        resolve(s);
      });
      s.once('error', reject);
    });
    socket.on('data', (chunk: Buffer) => {
      this.#shellBuffer += chunk.toString('utf8');
    });
    socket.on('error', () => undefined);
    this.#shell = socket;
    return socket;
  }

  #dropShell(): void {
    this.#shell?.destroy();
    this.#shell = undefined;
  }

  /** Waits for the machine to be off by itself; rejects (with the console) after timeoutMs. */
  async waitForPowerOff(timeoutMs: number): Promise<number | null> {
    const timeout = new Promise<'timeout'>((resolve) => {
      setTimeout(() => {
        resolve('timeout');
      }, timeoutMs).unref();
    });
    const result = await Promise.race([this.exited, timeout]);
    if (result === 'timeout') {
      throw new Error(
        `the VM did not power off within ${timeoutMs} ms; console:\n${await this.consoleTail()}`,
      );
    }
    return result;
  }

  /**
   * Pulls the plug (if still on) and removes the overlay and sockets. With `keepConsole`, the
   * serial console is kept and its path returned (for a run that failed).
   */
  async destroy(keepConsole = false): Promise<string | undefined> {
    this.#dropShell();
    if (this.running) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    let kept: string | undefined;
    if (keepConsole) {
      kept = `${this.workDir}-console.log`;
      await copyFile(this.consolePath, kept).catch(() => undefined);
    }
    await rm(this.workDir, { recursive: true, force: true });
    return kept;
  }
}
