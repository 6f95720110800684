// Bundles the agent into one ESM file (dist/taupage.mjs): this single file is what the AMI
// ships, so an instance needs Node.js and nothing from npm at run time.
import { build } from 'esbuild';
import { readFile, chmod } from 'node:fs/promises';
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

await build({
  plugins: [withoutBuildkitSession],
  entryPoints: ['src/main.ts'],
  outfile: 'dist/taupage.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  legalComments: 'none',
  // Smaller source parses faster: process start → status endpoint is on the boot's critical path.
  minify: true,
  keepNames: true,
  logLevel: 'warning',
  // ssh2 (pulled in by docker-modem for ssh:// DOCKER_HOST) has optional native parts.
  external: ['cpu-features', 'ssh2'],
  define: {
    TAUPAGE_VERSION: JSON.stringify(pkg.version),
    TAUPAGE_COMMIT: JSON.stringify(commit),
  },
  // Bundled CommonJS dependencies use require(), __filename and __dirname; give the ESM bundle them.
  banner: {
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __taupageCreateRequire } from 'node:module';",
      "import { fileURLToPath as __taupageFileURLToPath } from 'node:url';",
      'const require = __taupageCreateRequire(import.meta.url);',
      'const __filename = __taupageFileURLToPath(import.meta.url);',
      "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
    ].join('\n'),
  },
});
await chmod('dist/taupage.mjs', 0o755);
