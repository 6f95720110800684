// Fills Node's compile cache for the bundle in the directory given as the argument: every chunk
// is imported, then taupage.mjs runs `version`. Node writes the V8 code cache of each module at
// exit, into NODE_COMPILE_CACHE, which the caller sets; that cache holds only what V8 compiled
// before the module ran (its top level), so eager-compile-cache.mjs then rewrites each entry with
// every function compiled (see there).
//
//   NODE_COMPILE_CACHE=/opt/taupage/compile-cache node prime-compile-cache.mjs /opt/taupage
//
// The AMI build runs it once (ami/30-taupage.sh) with the agent's node and flags, as the unit
// starts it: the cache is keyed by each module's absolute path and content, Node's version and
// V8's flags. At boot the agent reads the cache (systemd/taupage.service): every module is a hit,
// nothing is written. bench/boot primes its own cache with this script the same way.
import { execFileSync } from 'node:child_process';
import { flushCompileCache, getCompileCacheDir } from 'node:module';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [dir] = process.argv.slice(2);
if (dir === undefined || getCompileCacheDir() === undefined) {
  console.error('usage: NODE_COMPILE_CACHE=<dir> node prime-compile-cache.mjs <bundle dir>');
  process.exit(64);
}
const bundle = resolve(dir);
const chunks = readdirSync(join(bundle, 'chunks'))
  .filter((name) => name.endsWith('.mjs'))
  .sort();
for (const chunk of chunks) await import(pathToFileURL(join(bundle, 'chunks', chunk)).href);
// Then every function into the cache, not only each module's top level (eager-compile-cache.mjs),
// for the entry point and every chunk under EAGER_MAX_BYTES: our own code and the small library
// chunks, most of whose functions the boot calls. The large chunks (the AWS SDK clients,
// dockerode) keep Node's cache: most of their functions never run, and their bytecode would stay
// resident (bench/boot, 7 runs, image present: eager for all modules saved 10 ms more CPU until
// "Boot completed" than this, for 5 MB more idle RSS). It rewrites the files Node wrote: flushed
// first, at the exit that taupage.mjs's CLI ends with; the same Node flags, so the same cache
// directory.
// The chunks taupage.mjs names (its static imports, and the CLI it imports once the status
// endpoint listens: our own code, most of the former entry point) are eager whatever their size.
const EAGER_MAX_BYTES = 64 * 1024;
const entry = readFileSync(join(bundle, 'taupage.mjs'), 'utf8');
const named = new Set([...entry.matchAll(/["']\.\/chunks\/([^"']+\.mjs)["']/g)].map((match) => match[1]));
const modules = [
  ...chunks
    .filter((chunk) => named.has(chunk) || statSync(join(bundle, 'chunks', chunk)).size < EAGER_MAX_BYTES)
    .map((chunk) => join(bundle, 'chunks', chunk)),
  join(bundle, 'taupage.mjs'),
];
process.once('exit', () => {
  flushCompileCache();
  const eager = fileURLToPath(new URL('eager-compile-cache.mjs', import.meta.url));
  const flags = [...process.execArgv, '--experimental-vm-modules', '--no-warnings'];
  execFileSync(process.execPath, [...flags, eager, getCompileCacheDir(), ...modules], { stdio: 'inherit' });
});
// The entry point runs the CLI with process.argv and exits: last.
console.log(`compile cache ${getCompileCacheDir()}: ${String(chunks.length)} chunks and taupage.mjs`);
process.argv = [process.argv[0] ?? 'node', join(bundle, 'taupage.mjs'), 'version'];
await import(pathToFileURL(join(bundle, 'taupage.mjs')).href);
