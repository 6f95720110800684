import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { HostPower } from './host-power.js';

const run = promisify(execFile);

/** `systemctl` answers in milliseconds; a hung D-Bus must not hold up the agent's shutdown. */
const SYSTEMCTL_TIMEOUT_MS = 5_000;

/** Adapter: systemd, through `systemctl` (argv, no shell). */
export class SystemdHostPower implements HostPower {
  readonly #systemctl: string;

  constructor(systemctl = 'systemctl') {
    this.#systemctl = systemctl;
  }

  /**
   * `systemctl is-system-running` prints `stopping` once the shutdown transaction started (it
   * exits non-zero for anything but `running`, so the output is what counts). A failure to ask
   * counts as "not shutting down": the app keeps running, as on an agent restart.
   */
  async isShuttingDown(signal: AbortSignal): Promise<boolean> {
    try {
      const { stdout } = await run(this.#systemctl, ['is-system-running'], {
        signal,
        timeout: SYSTEMCTL_TIMEOUT_MS,
      });
      return stdout.trim() === 'stopping';
    } catch (error) {
      const stdout = (error as { stdout?: unknown }).stdout;
      return typeof stdout === 'string' && stdout.trim() === 'stopping';
    }
  }

  /** Queues the poweroff job and returns; systemd then stops every service, this agent included. */
  async powerOff(_reason: string, signal: AbortSignal): Promise<void> {
    await run(this.#systemctl, ['--no-block', 'poweroff'], { signal, timeout: SYSTEMCTL_TIMEOUT_MS });
  }
}
