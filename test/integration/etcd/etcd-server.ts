import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, freePort } from '../../support/test-env.js';

/**
 * A private Debian etcd (3.4, `etcd-server`) per test: its own data dir, client and peer ports
 * picked free (never fixed), the v2 API on (`--enable-v2`, which the original's etcd 2.0 spoke
 * and register-in-etcd used). `stop()` kills it and removes its data.
 */
export class EtcdServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dataDir: string,
    readonly url: string,
    /** The member's peer URL (what a DNS SRV record of the cluster points at: its port). */
    readonly peerUrl: string,
    private readonly output: () => string,
  ) {}

  get peerPort(): number {
    return Number(new URL(this.peerUrl).port);
  }

  static async start(): Promise<EtcdServer> {
    const dataDir = await mkdtemp(join(tmpdir(), 'taupage-etcd-'));
    const [client, peer] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    const name = `taupage-test-${process.pid}-${client}`;
    const child = spawn(
      'etcd',
      [
        `--name=${name}`,
        `--data-dir=${join(dataDir, 'data')}`,
        '--enable-v2=true',
        `--listen-client-urls=${url}`,
        `--advertise-client-urls=${url}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${name}=${peerUrl}`,
        `--initial-cluster-token=${name}`,
        '--log-level=error',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const server = new EtcdServer(child, dataDir, url, peerUrl, () => output);
    try {
      await eventually(async () => {
        if (child.exitCode !== null) throw new Error(`etcd exited ${child.exitCode}: ${output}`);
        const response = await fetch(`${url}/v2/keys/`, { signal: AbortSignal.timeout(1_000) });
        return response.ok ? true : undefined;
      }, 'etcd answering on its v2 API');
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** The v2 node at `key`, or undefined when it does not exist (expired, never written). */
  async get(key: string): Promise<{ value: string; ttl: number | undefined } | undefined> {
    const response = await fetch(`${this.url}/v2/keys${key}`, { signal: AbortSignal.timeout(2_000) });
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`etcd GET ${key}: HTTP ${response.status}`);
    const { node } = (await response.json()) as { node: { value: string; ttl?: number } };
    return { value: node.value, ttl: node.ttl };
  }

  get log(): string {
    return this.output();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGKILL');
      await exited;
    }
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
