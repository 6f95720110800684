import { runCli } from './cli/program.js';
import { processIo } from './cli/output.js';

// Entry point of the bundle (dist/taupage.mjs). Everything else is in cli/ and app/.
const code = await runCli(process.argv.slice(2), processIo);
process.exit(code);
