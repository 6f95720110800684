import { runCli } from './cli/program.js';
import { processIo } from './cli/output.js';

// The AWS SDK warns on stderr at every start on Node < 22; the AMI pins the runtime it ships,
// so that warning is noise in the journal. An operator can still set the variable to "false".
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// Entry point of the bundle (dist/taupage.mjs). Everything else is in cli/ and app/.
const code = await runCli(process.argv.slice(2), processIo);
process.exit(code);
