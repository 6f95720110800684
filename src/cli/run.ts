import { processIo } from './output.js';
import { statusFirst } from './status-first.js';

/**
 * `taupage <argv>`: the whole program, for the bundle's entry (main.ts) and for the V8 startup
 * snapshot's main function (snapshot.ts). `taupage agent` opens its status endpoint first
 * (process start → status ready, issue 16); the command line, parsed in full, and the agent load
 * after it (their own chunk in the bundle: a dynamic import; already evaluated in a snapshot).
 */
export async function runTaupage(argv: readonly string[]): Promise<never> {
  const first = await statusFirst(argv, process.env);
  const { runCli } = await import('./program.js');
  const code = await runCli(argv, processIo, first);
  process.exit(code);
}

/**
 * The taupage arguments of a process started from the V8 startup snapshot (snapshot.ts), whose
 * process.argv is [node, ...arguments]: taupage.service keeps the bundle's path first, so that its
 * command is the same with and without the snapshot; that path is skipped.
 */
export function snapshotArgv(argv: readonly string[]): string[] {
  const first = argv[1] ?? '';
  return argv.slice(first === 'taupage.mjs' || first.endsWith('/taupage.mjs') ? 2 : 1);
}
