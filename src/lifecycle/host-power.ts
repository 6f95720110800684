import type { ShutdownPolicy } from '../config/taupage-config.js';
import type { ContainerInfo } from '../docker/container-runtime.js';

/**
 * Port: the host's power and lifecycle, in domain verbs. The real adapter asks systemd; tests
 * and `taupage local` use a double that records instead of powering off.
 */
export interface HostPower {
  /** The host is shutting down or rebooting (not merely the agent restarting). */
  isShuttingDown(signal: AbortSignal): Promise<boolean>;
  /** Powers the instance off (terminates it with `instance-initiated-shutdown-behavior: terminate`). */
  powerOff(reason: string, signal: AbortSignal): Promise<void>;
}

/**
 * `shutdown:` (batch mode). The original ran `docker wait` once and halted on the first exit,
 * even one Docker was about to restart. Here only an exit Docker will not restart counts
 * (state `exited`/`dead`): exit 0, or the restart policy's retries used up, or a manual
 * `docker stop`. `on-exit` then powers off whatever the code; `on-success` only on code 0, so
 * a job that failed for good stays up for inspection. Returns why, or undefined: keep running.
 */
export function powerOffReason(
  policy: ShutdownPolicy,
  container: ContainerInfo | undefined,
): string | undefined {
  if (policy === 'never' || container === undefined) return undefined;
  if (container.state !== 'exited' && container.state !== 'dead') return undefined;
  const code = container.exitCode;
  if (policy === 'on-success' && code !== 0) return undefined;
  return `the container exited with code ${code ?? '?'} (shutdown: ${policy})`;
}
