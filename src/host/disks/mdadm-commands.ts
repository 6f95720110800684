import type { Command } from './filesystem-commands.js';

/** Pure argv builders for mdadm (unit-tested; the adapter runs them with execFile). */
export const mdadmDetail = (device: string): Command => ({ file: 'mdadm', args: ['--detail', device] });

export const mdadmExamine = (member: string): Command => ({ file: 'mdadm', args: ['--examine', member] });

export const mdadmAssemble = (device: string, members: readonly string[]): Command => ({
  file: 'mdadm',
  args: ['--assemble', device, ...members],
});

/**
 * The original's create call. `--run`: do not stop at "appears to contain a file system,
 * continue?" (nobody answers at boot); members with an md superblock never get here (they are
 * assembled instead).
 */
export const mdadmCreate = (device: string, level: number, members: readonly string[]): Command => ({
  file: 'mdadm',
  args: ['--create', device, '--run', `--level=${level}`, `--raid-devices=${members.length}`, ...members],
});
