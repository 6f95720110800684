import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { TaupageError } from '../core/errors.js';

const run = promisify(execFile);
/** systemd's reload of ssh.service runs `sshd -t` first; a few seconds is plenty. */
const RELOAD_TIMEOUT_MS = 15_000;

/** Port: makes the running sshd read its configuration again (new ports take effect). */
export interface SshdReloader {
  reload(signal?: AbortSignal): Promise<void>;
}

/**
 * The AMI's way: `systemctl reload ssh.service` (Debian's unit checks the config with `sshd -t`
 * and sends SIGHUP; sshd re-executes itself and listens on the new ports; open sessions stay).
 * A stopped sshd is left stopped (`try-reload-or-restart` reloads only a running unit).
 */
export class SystemctlSshdReloader implements SshdReloader {
  readonly #unit: string;

  constructor(unit = 'ssh.service') {
    this.#unit = unit;
  }

  async reload(signal?: AbortSignal): Promise<void> {
    try {
      await run('systemctl', ['try-reload-or-restart', this.#unit], {
        timeout: RELOAD_TIMEOUT_MS,
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      throw new TaupageError('SSHD_RELOAD_FAILED', `Cannot reload sshd (systemctl ${this.#unit})`, {
        cause: error,
      });
    }
  }
}

/** Hosts without systemd, and tests: SIGHUP to the pid in sshd's PidFile. */
export class PidFileSshdReloader implements SshdReloader {
  readonly #pidFile: string;

  constructor(pidFile: string) {
    this.#pidFile = pidFile;
  }

  async reload(): Promise<void> {
    let pid: number;
    try {
      pid = Number((await readFile(this.#pidFile, 'utf8')).trim());
    } catch (error) {
      throw new TaupageError('SSHD_RELOAD_FAILED', `Cannot read sshd's pid file ${this.#pidFile}`, {
        cause: error,
      });
    }
    if (!Number.isInteger(pid) || pid <= 1)
      throw new TaupageError('SSHD_RELOAD_FAILED', `${this.#pidFile} does not hold a process id`);
    try {
      process.kill(pid, 'SIGHUP');
    } catch (error) {
      throw new TaupageError('SSHD_RELOAD_FAILED', `Cannot signal sshd (pid ${pid})`, { cause: error });
    }
  }
}
