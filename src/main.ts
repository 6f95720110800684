import { processIo } from './cli/output.js';
import { statusFirst } from './cli/status-first.js';

// Entry point of the bundle (dist/taupage.mjs). Everything else is in cli/ and app/.
// `taupage agent` opens its status endpoint first (process start → status ready, issue 16); the
// command line, parsed in full, and the agent load after it (their own chunk: a dynamic import).
const argv = process.argv.slice(2);
const first = await statusFirst(argv, process.env);
const { runCli } = await import('./cli/program.js');
const code = await runCli(argv, processIo, first);
process.exit(code);
