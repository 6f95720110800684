import type { Logger } from '../core/logger.js';
import type { HostPower } from './host-power.js';

/** Local mode (`--host-power off`): the host never counts as shutting down and is never powered off. */
export class NullHostPower implements HostPower {
  constructor(readonly log: Logger) {}

  isShuttingDown(): Promise<boolean> {
    return Promise.resolve(false);
  }

  powerOff(reason: string): Promise<void> {
    this.log.warn({ reason }, 'Host power is off here: not powering off (the agent exits instead)');
    return Promise.resolve();
  }
}
