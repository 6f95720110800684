import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { TaupageError } from '../../core/errors.js';
import type { Command } from './filesystem-commands.js';
import { mdadmAssemble, mdadmCreate, mdadmDetail, mdadmExamine } from './mdadm-commands.js';
import type { RaidArrays } from './raid-arrays.js';
import { lastLine, runCommand, type CommandResult } from './run-command.js';

/** Creating an array only writes superblocks (the resync runs in the background). */
const MDADM_TIMEOUT_MS = 2 * 60_000;
/** strerror(EBUSY), which mdadm prints verbatim when udev or a scan still holds a member. */
const BUSY = 'Device or resource busy';

/** Adapter: mdadm with an argv array (execFile); `procRoot` locates /proc/mdstat. */
export class MdadmRaidArrays implements RaidArrays {
  readonly #procRoot: string;

  constructor(options: { procRoot?: string } = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
  }

  async driverAvailable(): Promise<boolean> {
    return access(join(this.#procRoot, 'mdstat')).then(
      () => true,
      () => false,
    );
  }

  async isActive(device: string, signal: AbortSignal): Promise<boolean> {
    return (await run(mdadmDetail(device), signal)).exitCode === 0;
  }

  async hasSuperblock(member: string, signal: AbortSignal): Promise<boolean> {
    return (await run(mdadmExamine(member), signal)).exitCode === 0;
  }

  async assemble(device: string, members: readonly string[], signal: AbortSignal): Promise<void> {
    const result = await run(mdadmAssemble(device, members), signal);
    if (result.exitCode !== 0) throw failed(`mdadm --assemble ${device} failed`, result, false);
  }

  async create(
    device: string,
    level: number,
    members: readonly string[],
    signal: AbortSignal,
  ): Promise<void> {
    const result = await run(mdadmCreate(device, level, members), signal);
    if (result.exitCode !== 0)
      throw failed(`mdadm --create ${device} failed`, result, result.stderr.includes(BUSY));
  }
}

async function run(command: Command, signal: AbortSignal): Promise<CommandResult> {
  try {
    return await runCommand(command.file, command.args, { signal, timeoutMs: MDADM_TIMEOUT_MS });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new TaupageError('RAID_FAILED', error instanceof Error ? error.message : String(error), {
      cause: error,
    });
  }
}

function failed(what: string, result: CommandResult, retriable: boolean): TaupageError {
  const said = lastLine(result.stderr);
  return new TaupageError(
    'RAID_FAILED',
    said === '' ? `${what} (exit ${result.exitCode})` : `${what}: ${said}`,
    {
      retriable,
    },
  );
}
