import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventually } from './test-env.js';

export const AGENT_BUNDLE = fileURLToPath(new URL('../../dist/taupage.mjs', import.meta.url));

/** The built agent (dist/taupage.mjs) as a child process, with everything it prints kept. */
export class AgentProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;

  constructor(args: readonly string[], extraEnv: Record<string, string> = {}) {
    this.#child = spawn(process.execPath, [AGENT_BUNDLE, ...args], {
      env: { ...process.env, ...extraEnv },
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

  signal(signal: NodeJS.Signals): void {
    this.#child.kill(signal);
  }

  async stop(): Promise<number | null> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    return this.exited;
  }
}
