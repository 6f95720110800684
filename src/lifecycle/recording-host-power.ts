import { access, appendFile } from 'node:fs/promises';
import type { HostPower } from './host-power.js';

/**
 * Test double behind `--host-power record:<file>`: a power-off appends one line to the file
 * instead, and the host counts as shutting down while `<file>.stopping` exists. The e2e tests
 * (and anyone trying `shutdown:` on a laptop) run the real agent with it.
 */
export class RecordingHostPower implements HostPower {
  constructor(readonly file: string) {}

  async isShuttingDown(): Promise<boolean> {
    try {
      await access(`${this.file}.stopping`);
      return true;
    } catch {
      return false;
    }
  }

  async powerOff(reason: string): Promise<void> {
    await appendFile(this.file, `poweroff ${new Date().toISOString()} ${reason}\n`);
  }
}
