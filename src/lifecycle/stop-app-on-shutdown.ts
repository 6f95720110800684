import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { ContainerInfo, ContainerRuntime } from '../docker/container-runtime.js';
import type { HostPower } from './host-power.js';

/** Asking systemd whether the host is stopping must not hold up the shutdown. */
const ASK_HOST_TIMEOUT_MS = 10_000;
/** Docker answers `stop` only once the app exited or was killed: the grace plus this margin. */
const STOP_MARGIN_MS = 10_000;

export interface StopAppOptions {
  readonly container: ContainerInfo | undefined;
  readonly runtime: ContainerRuntime | undefined;
  readonly hostPower: HostPower;
  /** Local mode: stop and remove it whatever the host does. */
  readonly remove: boolean;
  /** The agent powers off because the app exited: nothing left to stop. */
  readonly poweringOff: boolean;
  readonly stopTimeoutSeconds: number;
  readonly clock: Clock;
  readonly log: Logger;
}

/**
 * The app's part of the agent's shutdown. An agent restart leaves it running (the next agent
 * adopts it); a host shutdown stops it gracefully with `docker.stop_timeout` before the agent
 * flushes logs; local mode stops and removes it. Failures are logged, never thrown.
 */
export async function stopAppOnShutdown(options: StopAppOptions): Promise<void> {
  const { container, runtime, log, clock } = options;
  if (container === undefined || runtime === undefined || options.poweringOff) return;
  const hostStopping =
    !options.remove && (await options.hostPower.isShuttingDown(AbortSignal.timeout(ASK_HOST_TIMEOUT_MS)));
  if (!options.remove && !hostStopping) return;
  const seconds = options.stopTimeoutSeconds;
  const signal = AbortSignal.timeout(seconds * 1000 + STOP_MARGIN_MS);
  try {
    const startedAt = clock.now();
    log.info(
      {
        id: container.id,
        stopTimeoutSeconds: seconds,
        reason: options.remove ? 'local mode' : 'host shutting down',
      },
      'Stopping the app container',
    );
    await runtime.stopContainer(container.id, seconds, signal);
    log.info({ id: container.id, ms: clock.now() - startedAt }, 'Stopped the app container');
    if (options.remove) {
      await runtime.removeContainer(container.id, signal);
      log.info({ id: container.id }, 'Removed container');
    }
  } catch (error) {
    log.warn({ err: error }, 'Could not stop the app container');
  }
}
