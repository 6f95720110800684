// Bundles the agent into dist/: the entry dist/taupage.mjs plus dist/chunks/*.mjs that it loads
// on demand (code splitting). That directory is what the AMI ships, so an instance needs Node.js
// and nothing from npm at run time. Splitting matters for start-up: Node compiles an ES module
// whole when it is loaded, so one 2 MB bundle cost ~170 ms of compile before the status endpoint
// could listen; now each AWS SDK client and dockerode is compiled only when (and if) used.
import { build } from 'esbuild';
import { readFile, readdir, chmod, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
let commit = process.env.TAUPAGE_COMMIT ?? 'unknown';
if (commit === 'unknown') {
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    // Not a git checkout (e.g. a source tarball): the build still works, the commit is "unknown".
  }
}

// dockerode loads its BuildKit session support (gRPC + protobuf, ~30% of the bundle) at start-up
// although taupage never builds images: swap it for a stub that says so if anything calls it.
const withoutBuildkitSession = {
  name: 'without-buildkit-session',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^\.\/session$/ }, (args) =>
      args.importer.includes('/dockerode/lib/')
        ? { path: 'dockerode-session', namespace: 'taupage-stub' }
        : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'taupage-stub' }, () => ({
      contents:
        "module.exports = function withSession() { throw new Error('BuildKit sessions are not part of the taupage bundle'); };",
      loader: 'js',
    }));
  },
};

// docker-modem requires ssh2 at load time (for ssh:// DOCKER_HOST, which taupage never uses).
// Left external, the bundle only starts where node_modules is reachable (the repo), not on the
// AMI (/opt/taupage alone): found by the AMI boot test. A stub keeps the bundle self-contained.
const withoutSsh2 = {
  name: 'without-ssh2',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^ssh2$/ }, () => ({ path: 'ssh2', namespace: 'taupage-ssh2-stub' }));
    pluginBuild.onLoad({ filter: /.*/, namespace: 'taupage-ssh2-stub' }, () => ({
      contents:
        "exports.Client = class Client { constructor() { throw new Error('ssh:// DOCKER_HOST is not supported by the taupage bundle'); } };",
      loader: 'js',
    }));
  },
};

// Node's built-in modules through require(), not ESM import: importing one builds its ESM facade,
// which reads every export, and some exports are lazy getters (node:http's load undici, ~25 ms
// and more under load). `import { request } from 'node:http'` in our code becomes a property read
// on require('node:http') at call time. Dynamic import() is left as it is.
// One shim per importing file (the importer is part of its path): a shim shared by several
// chunks would be a chunk of its own, and the entry point would load ~20 such 400-byte modules
// before the status endpoint listens (each one resolved, read, compiled and linked).
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^node:/ }, (args) =>
      args.kind === 'import-statement'
        ? { path: `${args.path}?${args.importer}`, namespace: 'taupage-builtin' }
        : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'taupage-builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path.split('?', 1)[0])});`,
      loader: 'js',
    }));
  },
};

// Chunk names carry content hashes: stale ones from an earlier build must not ship.
await rm('dist', { recursive: true, force: true });
await build({
  plugins: [withoutBuildkitSession, withoutSsh2, builtinsByRequire],
  entryPoints: { taupage: 'src/main.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  sourcemap: 'linked',
  legalComments: 'none',
  // Smaller source parses faster: process start → status endpoint is on the boot's critical path.
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  // cpu-features: ssh2's optional native part (ssh2 itself is stubbed above).
  external: ['cpu-features'],
  define: {
    TAUPAGE_VERSION: JSON.stringify(pkg.version),
    TAUPAGE_COMMIT: JSON.stringify(commit),
  },
  // Bundled CommonJS dependencies use require(), __filename and __dirname; give the ESM bundle them.
  banner: {
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __taupageCreateRequire } from 'node:module';",
      'const require = __taupageCreateRequire(import.meta.url);',
      'const __filename = import.meta.filename;',
      'const __dirname = import.meta.dirname;',
    ].join('\n'),
  },
});
await chmod('dist/taupage.mjs', 0o755);

// V8 keeps each module's source text in the heap for as long as the agent runs, one byte per
// character while every character is Latin-1, two bytes per character from the first one that is
// not: one `…` in a regular expression (esbuild escapes strings, not regex literals) made the
// 430 kB entry point cost 860 kB of heap. Write such characters as \uXXXX escapes.
for (const file of ['taupage.mjs', ...(await readdir('dist/chunks')).map((name) => `chunks/${name}`)]) {
  if (!file.endsWith('.mjs')) continue;
  const text = await readFile(`dist/${file}`, 'utf8');
  const at = text.search(/[^\0-\xff]/u);
  if (at >= 0)
    throw new Error(
      `dist/${file}: a character beyond Latin-1 (${JSON.stringify(text.slice(at - 40, at + 10))})`,
    );
}
