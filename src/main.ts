import { runTaupage } from './cli/run.js';

// Entry point of the bundle (dist/taupage.mjs). Everything else is in cli/ and app/.
await runTaupage(process.argv.slice(2));
