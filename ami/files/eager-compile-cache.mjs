// Second pass of prime-compile-cache.mjs (run by it, with --experimental-vm-modules): rewrites the
// V8 code cache of the bundle's modules so that it holds every function, not only the top level.
//
// Node writes a module's code cache right after compiling it, before it runs, so the cache holds
// the code V8 compiled eagerly (the top level) and nothing of the functions it compiles lazily on
// their first call: the bundled CommonJS modules (the AWS SDK, dockerode) are such functions
// (esbuild's __commonJS/__esm wrappers), and so is all of our code. Compiling them at every boot
// cost ~30 ms of CPU until "Boot completed" (bench/boot, issue 16); the price is more idle RSS
// (the bytecode of functions the boot never calls: V8 flushes unused bytecode only after several
// full GCs), which is why the caller passes only the entry point and the small chunks. Here each
// module given is compiled again with V8's --no-lazy (every function
// compiled), the flag is restored, and the code cache of that compilation replaces the payload of
// Node's cache file. V8 accepts it at boot: a code cache is checked against V8's version, its
// flags at serialization (restored before), and the source's length; Node's file header against
// the source's and the payload's CRC-32, which are written anew.
//
//   node --experimental-vm-modules eager-compile-cache.mjs <getCompileCacheDir()> <module file>...
import { Buffer } from 'node:buffer';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { SourceTextModule } from 'node:vm';
import { crc32 } from 'node:zlib';

// Node's cache file (src/compile_cache.cc): five uint32 (host order), then V8's code cache.
const HEADER_BYTES = 20;
const CODE_SIZE = 1;
const CACHE_SIZE = 2;
const CODE_HASH = 3;
const CACHE_HASH = 4;

const [cacheDir, ...modules] = process.argv.slice(2);
if (cacheDir === undefined || modules.length === 0) {
  console.error('usage: node --experimental-vm-modules eager-compile-cache.mjs <cache dir> <module>...');
  process.exit(64);
}

/** Every file in Node's cache directory for these Node flags (getCompileCacheDir()). */
function cacheFiles() {
  return readdirSync(cacheDir).map((name) => {
    const path = join(cacheDir, name);
    const bytes = readFileSync(path);
    return {
      path,
      header: new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + HEADER_BYTES)),
    };
  });
}

const files = cacheFiles();
let rewritten = 0;
for (const file of modules) {
  const source = readFileSync(file, 'utf8');
  const sourceBytes = Buffer.from(source, 'utf8');
  const codeHash = crc32(sourceBytes);
  const entries = files.filter(
    ({ header }) => header[CODE_SIZE] === sourceBytes.length && header[CODE_HASH] === codeHash,
  );
  if (entries.length === 0) continue; // not loaded by the first pass: nothing to replace
  setFlagsFromString('--no-lazy');
  let module;
  try {
    module = new SourceTextModule(source, { identifier: pathToFileURL(file).href });
  } finally {
    setFlagsFromString('--lazy');
  }
  const cache = module.createCachedData();
  for (const { path, header } of entries) {
    header[CACHE_SIZE] = cache.length;
    header[CACHE_HASH] = crc32(cache);
    writeFileSync(path, Buffer.concat([Buffer.from(header.buffer), cache]));
    rewritten++;
  }
}
console.log(`eager code cache: ${String(rewritten)} entries rewritten`);
