// Bundles the agent into one ESM file (dist/taupage.mjs): this single file is what the AMI
// ships, so an instance needs Node.js and nothing from npm at run time.
import { build } from 'esbuild';
import { readFile, chmod } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
let commit = process.env.TAUPAGE_COMMIT ?? 'unknown';
if (commit === 'unknown') {
  try {
    commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // Not a git checkout (e.g. a source tarball): the build still works, the commit is "unknown".
  }
}

await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/taupage.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  // ssh2 (pulled in by docker-modem for ssh:// DOCKER_HOST) has optional native parts.
  external: ['cpu-features', 'ssh2'],
  define: {
    TAUPAGE_VERSION: JSON.stringify(pkg.version),
    TAUPAGE_COMMIT: JSON.stringify(commit),
  },
  // Some bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __taupageCreateRequire } from 'node:module';\nconst require = __taupageCreateRequire(import.meta.url);",
  },
});
await chmod('dist/taupage.mjs', 0o755);
