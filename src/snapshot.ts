import { startupSnapshot } from 'node:v8';
import { runTaupage, snapshotArgv } from './cli/run.js';
// What `taupage agent` loads on an ordinary boot, evaluated once at AMI build time (below): the
// CLI and the agent (static in cli/program.ts), and the modules the boot imports on demand.
import './cli/program.js';
import './app/compose-host.js';
import './metrics/operator-surface.js';
import './metrics/metrics-server.js';
import './metrics/node-cron-scheduler.js';
import './docker/dockerode-container-runtime.js';
import './docker/dockerode-container-stats.js';
import './docker/dockerode-container-events.js';
import './secrets/kms-secret-decrypter.js';
import './cloudformation/aws-cloudformation-signaller.js';
import './logs/application-log-destination.js';
import './logs/log-rotation.js';

// Entry point of dist/taupage-snapshot.cjs, the V8 startup snapshot's source (docs/ami.md).
// The AMI build runs it once with `node --build-snapshot`: every module above is evaluated then,
// and the heap is written to /opt/taupage/snapshot.blob; taupage.service starts Node from that
// blob, which runs the function given here instead of loading and evaluating the bundle.
// Evaluating a module must therefore not capture anything of the build host (environment,
// hostname, time, randomness, handles): checked for these modules when this was built (docs/ami.md).
// The unit keeps the bundle's path on the command line (`node --snapshot-blob=… taupage.mjs
// agent`), so the command is the same with and without the snapshot; it is skipped here.

if (startupSnapshot.isBuildingSnapshot())
  startupSnapshot.setDeserializeMainFunction(() => {
    void runTaupage(snapshotArgv(process.argv));
  });
// Run as a plain script (`node dist/taupage-snapshot.cjs …`, tests): the same program.
else void runTaupage(process.argv.slice(2));
