import { ExitCode } from '../core/exit-codes.js';
import type { Logger } from '../core/logger.js';
import { composeAgent } from '../app/compose.js';
import type { AgentSettings } from '../app/settings.js';
import type { StatusFirst } from '../app/status-endpoint.js';
import type { CliIo } from './output.js';

/** The part of `process` the edge uses: signals in, a hard exit out (tests pass their own). */
export interface ProcessEdge {
  on(signal: 'SIGTERM' | 'SIGINT', listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: 'SIGTERM' | 'SIGINT', listener: (signal: NodeJS.Signals) => void): unknown;
  exit(code: number): never;
}

/**
 * The edge of `taupage agent` and `taupage local`: the only place that listens for signals and
 * exits the process. The first SIGTERM/SIGINT aborts the agent's run (an ordered shutdown);
 * a second one, or a shutdown past the agent's deadline, ends the process at once.
 */
export function onShutdownSignals(
  edge: ProcessEdge,
  controller: AbortController,
  deadlineMs: () => number,
  log: Logger,
): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      log.warn({ signal }, 'Second signal, exiting now');
      edge.exit(ExitCode.Failure);
    }
    log.info({ signal }, 'Shutdown requested');
    controller.abort();
    // Read now: longer when the app gets docker.stop_timeout first (host shutdown, local mode).
    setTimeout(() => {
      log.error('Shutdown took too long, exiting');
      edge.exit(ExitCode.Failure);
    }, deadlineMs()).unref();
  };
  edge.on('SIGTERM', onSignal);
  edge.on('SIGINT', onSignal);
  return () => {
    edge.off('SIGTERM', onSignal);
    edge.off('SIGINT', onSignal);
  };
}

/**
 * Composes the agent, runs it until a signal, and returns its exit code (main.ts exits with it).
 * `statusFirst`: the status endpoint main.ts opened before the CLI loaded (cli/status-first.ts).
 */
export async function runAgent(
  settings: AgentSettings,
  io: CliIo,
  edge: ProcessEdge = process,
  statusFirst?: StatusFirst,
): Promise<number> {
  const startedAt = statusFirst?.processStartedAt ?? Date.now() - Math.round(process.uptime() * 1000);
  const { agent, log } = await composeAgent(settings, startedAt, statusFirst);
  const controller = new AbortController();
  const release = onShutdownSignals(edge, controller, () => agent.shutdownDeadlineMs, log);
  try {
    const code = await agent.run(controller.signal);
    // Besides the JSON log line, one plain line for whoever reads the console or `systemctl status`.
    const failure = agent.failure;
    if (failure !== undefined) io.stderr(`taupage: error ${failure.code}: ${failure.message}\n`);
    return code;
  } finally {
    release();
  }
}
