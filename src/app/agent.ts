import type { Server } from 'node:http';
import type { Clock } from '../core/clock.js';
import { toTaupageError } from '../core/errors.js';
import { ExitCode } from '../core/exit-codes.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import type { ContainerRuntime } from '../docker/container-runtime.js';
import { statusDocument, type AgentState } from '../status/agent-state.js';
import { close, createStatusServer, listen } from '../status/status-server.js';
import { boot, bootSummary, type BootDependencies } from './boot.js';

/** How often the supervisor re-inspects the container for the status endpoint. */
const SUPERVISE_INTERVAL_MS = 5_000;
/** Each shutdown stage gets at most this long; the whole shutdown stays well inside systemd's 90 s. */
const SHUTDOWN_STAGE_TIMEOUT_MS = 10_000;

/** The adapters that pull in big libraries (dockerode, the AWS SDK), loaded after the status endpoint is up. */
export type HeavyAdapters = Pick<BootDependencies, 'runtime' | 'secretDecrypter'>;

export interface AgentDependencies extends Omit<BootDependencies, keyof HeavyAdapters> {
  readonly loadAdapters: () => Promise<HeavyAdapters>;
  readonly redactor: Redactor;
  readonly statusListen: { readonly host: string; readonly port: number };
  /** Local mode: remove the container on exit. */
  readonly removeContainerOnExit: boolean;
  readonly processStartedAt: number;
}

/** The daemon: status endpoint up first, then the boot, then supervision until the signal. */
export class Agent {
  readonly #deps: AgentDependencies;
  readonly #log: Logger;
  readonly #state: AgentState;
  readonly #clock: Clock;
  #server: Server | undefined;
  #runtime: ContainerRuntime | undefined;

  constructor(deps: AgentDependencies) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'agent' });
    this.#state = deps.state;
    this.#clock = deps.clock;
  }

  /** Why the boot failed, when it did: code and one-line message (no secrets). */
  get failure(): { code: string; message: string } | undefined {
    return this.#state.bootError;
  }

  async run(signal: AbortSignal): Promise<ExitCode> {
    const { statusListen } = this.#deps;
    this.#server = createStatusServer({
      status: () => statusDocument(this.#state, this.#clock.now()),
      redactor: this.#deps.redactor,
    });
    try {
      const address = await listen(this.#server, statusListen.host, statusListen.port);
      const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/status`;
      this.#log.info(
        { url, startupMs: Math.round(this.#clock.now() - this.#deps.processStartedAt) },
        'Status endpoint listening',
      );
    } catch (error) {
      this.#log.error({ err: error }, 'Cannot open the status endpoint');
      return ExitCode.Failure;
    }

    let exitCode: ExitCode = ExitCode.Ok;
    try {
      const adapters = await this.#deps.loadAdapters();
      this.#runtime = adapters.runtime;
      const result = await boot({ ...this.#deps, ...adapters }, signal);
      this.#state.bootState = 'succeeded';
      const timeline = this.#state.timeline;
      this.#log.info(
        {
          totalMs: timeline.totalMs,
          steps: Object.fromEntries(timeline.steps.map((step) => [step.name, step.durationMs ?? null])),
        },
        bootSummary(timeline.totalMs, timeline.summary()),
      );
      await this.#supervise(result.container.id, signal);
    } catch (error) {
      if (signal.aborted) {
        this.#log.info('Boot interrupted by shutdown');
      } else {
        const failure = toTaupageError(error);
        this.#state.bootState = 'failed';
        this.#state.bootError = { code: failure.code, message: this.#deps.redactor.scrub(failure.message) };
        this.#log.error(
          { code: failure.code, exitCode: failure.exitCode, err: failure.cause ?? failure },
          `Boot failed: ${failure.message}`,
        );
        exitCode = failure.exitCode;
      }
    }
    await this.#shutdown();
    return exitCode;
  }

  async #supervise(containerId: string, signal: AbortSignal): Promise<void> {
    this.#log.info('Supervising');
    for (;;) {
      try {
        await this.#clock.sleep(SUPERVISE_INTERVAL_MS, signal);
      } catch {
        return; // aborted: shutting down
      }
      try {
        const info = await this.#runtime?.inspectContainer(containerId, signal);
        const previous = this.#state.container;
        this.#state.container = info;
        if (info !== undefined && previous !== undefined && info.restartCount !== previous.restartCount) {
          this.#log.warn(
            { restartCount: info.restartCount, exitCode: info.exitCode, oomKilled: info.oomKilled },
            'Container restarted',
          );
        }
        if (info !== undefined && previous?.state !== info.state) {
          this.#log.info({ state: info.state, exitCode: info.exitCode }, 'Container state changed');
        }
      } catch (error) {
        if (signal.aborted) return;
        this.#log.warn({ err: error }, 'Cannot inspect the container');
      }
    }
  }

  /** Ordered and time-boxed: the app container first (local mode), the status endpoint last. */
  async #shutdown(): Promise<void> {
    this.#log.info('Shutting down');
    const container = this.#state.container;
    const runtime = this.#runtime;
    if (this.#deps.removeContainerOnExit && container !== undefined && runtime !== undefined) {
      const stopSignal = AbortSignal.timeout(SHUTDOWN_STAGE_TIMEOUT_MS + 5_000);
      try {
        await runtime.stopContainer(container.id, Math.round(SHUTDOWN_STAGE_TIMEOUT_MS / 1000), stopSignal);
        await runtime.removeContainer(container.id, stopSignal);
        this.#log.info({ id: container.id }, 'Removed container');
      } catch (error) {
        this.#log.warn({ err: error }, 'Could not remove the container');
      }
    }
    if (this.#server !== undefined) {
      await Promise.race([close(this.#server), this.#clock.sleep(SHUTDOWN_STAGE_TIMEOUT_MS)]);
    }
    this.#log.info('Stopped');
  }
}
