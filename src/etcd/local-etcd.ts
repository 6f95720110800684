import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Clock } from '../core/clock.js';
import { firstLine } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/**
 * The instance-local etcd of `etcd_discovery_domain` (the original's init.d/14-start-etcd.sh and
 * etc/init/etcd.conf), run and kept running by the agent:
 *
 * - a domain: an etcd **proxy** (v2 API) to the cluster the domain's DNS SRV records name
 *   (srv-discovery.ts), looked up again at every start;
 * - `disable`: a standalone single-node etcd with the v2 API.
 *
 * Both listen on `listenUrls` (the original: 127.0.0.1:2379 and docker0's 172.17.0.1:2379), so
 * the heartbeat and the app (`ETCD_URL`) reach it. An etcd that exits, or a discovery that
 * fails, is retried with backoff (1 s doubling to 30 s; back to 1 s after a minute of running)
 * for as long as the agent runs: a cluster or DNS that is away is never terminal.
 */
export interface LocalEtcdOptions {
  /** The etcd binary (Debian's `etcd-server`: /usr/bin/etcd). */
  readonly binary: string;
  /** `etcd_discovery_domain`: a DNS domain, or `disable`. */
  readonly domain: string;
  /** Client URLs it listens on; the first is what it advertises. */
  readonly listenUrls: readonly string[];
  /** The single node's peer URL (`disable` only; nothing else joins it). */
  readonly peerUrl: string;
  /** Its data; the proxy's cluster file is removed at every start (a fresh discovery decides). */
  readonly dataDir: string;
  /** The member's name (`disable`): the instance's name. */
  readonly name: string;
  /** The peer URLs of the cluster behind the domain (proxy). */
  readonly discover: (domain: string) => Promise<string[]>;
  readonly clock: Clock;
  readonly log: Logger;
}

export type LocalEtcdMode = 'proxy' | 'single';

export interface LocalEtcdStatus {
  readonly mode: LocalEtcdMode;
  /** starting: discovering or spawned; running: the process is up; waiting: to start again. */
  readonly state: 'starting' | 'running' | 'waiting' | 'stopped';
  readonly pid: number | undefined;
  readonly listenUrls: readonly string[];
  /** The cluster members' peer URLs it proxies to (proxy mode, from the last discovery). */
  readonly peers: readonly string[];
  readonly starts: number;
  /** Exits and failed starts (discovery, spawn) since the agent started. */
  readonly failures: number;
  readonly lastError: string | undefined;
}

const RESTART_INITIAL_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** Running this long resets the restart backoff. */
const RESTART_RESET_MS = 60_000;
/** SIGTERM, then SIGKILL after this. */
const STOP_GRACE_MS = 5_000;

export class LocalEtcd {
  readonly mode: LocalEtcdMode;
  readonly #options: LocalEtcdOptions;
  readonly #stop = new AbortController();
  #state: LocalEtcdStatus['state'] = 'starting';
  #pid: number | undefined;
  #peers: string[] = [];
  #starts = 0;
  #failures = 0;
  #lastError: string | undefined;
  #running: Promise<void> | undefined;
  #kill: ((signal: NodeJS.Signals) => void) | undefined;

  constructor(options: LocalEtcdOptions) {
    this.#options = options;
    this.mode = options.domain === 'disable' ? 'single' : 'proxy';
  }

  status(): LocalEtcdStatus {
    return {
      mode: this.mode,
      state: this.#state,
      pid: this.#pid,
      listenUrls: this.#options.listenUrls,
      peers: this.#peers,
      starts: this.#starts,
      failures: this.#failures,
      lastError: this.#lastError,
    };
  }

  /** Starts it and keeps it running until `stop`. */
  start(): void {
    this.#running ??= this.#supervise();
  }

  /** SIGTERM (SIGKILL after 5 s) and no restart; resolves once it exited. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#kill?.('SIGTERM');
    const killer = setTimeout(() => {
      this.#kill?.('SIGKILL');
    }, STOP_GRACE_MS);
    killer.unref();
    await this.#running;
    clearTimeout(killer);
    this.#state = 'stopped';
  }

  async #supervise(): Promise<void> {
    const { clock, log } = this.#options;
    const signal = this.#stop.signal;
    let delay = RESTART_INITIAL_MS;
    while (!signal.aborted) {
      this.#state = 'starting';
      const startedAt = clock.now();
      try {
        await this.#runOnce(signal);
      } catch (error) {
        this.#failures++;
        this.#lastError = error instanceof Error ? firstLine(error.message) : String(error);
        if (!this.#stopped())
          log.warn(
            { mode: this.mode, retryInMs: delay },
            `The local etcd is not running: ${this.#lastError}`,
          );
      }
      this.#pid = undefined;
      this.#kill = undefined;
      if (this.#stopped()) break;
      if (clock.now() - startedAt >= RESTART_RESET_MS) delay = RESTART_INITIAL_MS;
      this.#state = 'waiting';
      await clock.sleep(delay, signal).catch(() => undefined);
      delay = Math.min(delay * 2, RESTART_MAX_MS);
    }
  }

  /** A method, not `signal.aborted` inline: it changes across awaits. */
  #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  /** One life of the process; throws why it ended (it never ends on its own otherwise). */
  async #runOnce(signal: AbortSignal): Promise<void> {
    const { log } = this.#options;
    const args = await this.#args();
    if (signal.aborted) return;
    const child = spawn(this.#options.binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#starts++;
    this.#kill = (killSignal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(killSignal);
    };
    let lastLine = '';
    createInterface({ input: child.stderr }).on('line', (line) => {
      lastLine = line;
      const { level, message } = etcdLine(line);
      const fields = { mode: this.mode, etcdLevel: level };
      if (level === 'warn' || level === 'error' || level === 'fatal' || level === 'panic')
        log.warn(fields, `etcd: ${message}`);
      else log.debug(fields, `etcd: ${message}`);
    });
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, exitSignal) => {
        resolve({ code, signal: exitSignal });
      });
    });
    child.once('spawn', () => {
      this.#pid = child.pid;
      this.#state = 'running';
      log.info(
        { mode: this.mode, pid: child.pid, listen: this.#options.listenUrls, peers: this.#peers },
        this.mode === 'proxy'
          ? 'Started the local etcd proxy'
          : 'Started the local etcd (single node: etcd_discovery_domain is disable)',
      );
    });
    let exit: { code: number | null; signal: NodeJS.Signals | null };
    try {
      exit = await ended;
    } catch (error) {
      throw new Error(
        `cannot run ${this.#options.binary}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    if (this.#stopped()) return;
    const how = exit.signal === null ? `exit code ${String(exit.code)}` : `signal ${exit.signal}`;
    const said = lastLine === '' ? '' : `: ${etcdLine(lastLine).message}`;
    throw new Error(`etcd ended (${how})${said}`);
  }

  async #args(): Promise<string[]> {
    const { dataDir, listenUrls, name, peerUrl } = this.#options;
    const common = [
      `--listen-client-urls=${listenUrls.join(',')}`,
      `--advertise-client-urls=${listenUrls[0] ?? ''}`,
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
    ];
    if (this.mode === 'single') {
      const dir = join(dataDir, 'single');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      return [
        `--name=${name}`,
        `--data-dir=${dir}`,
        '--enable-v2=true',
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${name}=${peerUrl}`,
        `--initial-cluster-token=taupage-${name}`,
        ...common,
      ];
    }
    this.#peers = await this.#options.discover(this.#options.domain);
    // The proxy prefers the members it saved last time over --initial-cluster: start afresh.
    const dir = join(dataDir, 'proxy');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return [
      '--proxy=on',
      `--name=${name}`,
      `--data-dir=${dir}`,
      `--initial-cluster=${this.#peers.map((peer, index) => `srv${index}=${peer}`).join(',')}`,
      ...common,
    ];
  }
}

/** etcd's zap JSON line → level and message (a line that is not JSON is the message). */
function etcdLine(line: string): { level: string; message: string } {
  try {
    const parsed = JSON.parse(line) as { level?: unknown; msg?: unknown; error?: unknown };
    const level = typeof parsed.level === 'string' ? parsed.level : 'info';
    const message = typeof parsed.msg === 'string' ? parsed.msg : line;
    const error = typeof parsed.error === 'string' ? ` (${parsed.error})` : '';
    return { level, message: firstLine(`${message}${error}`).slice(0, 500) };
  } catch {
    return { level: 'info', message: firstLine(line).slice(0, 500) };
  }
}
