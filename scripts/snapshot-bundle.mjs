// The source of the agent's V8 startup snapshot (docs/ami.md): dist/taupage-snapshot.cjs, one
// CommonJS file with everything in it (Node's snapshot builder runs a single script whose
// `require` knows only the built-in modules), entry src/snapshot.ts. The AMI build runs it with
// `node --build-snapshot` (ami/30-taupage.sh). scripts/build.mjs calls this after the ESM bundle.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { agentNodePath } from './agent-node.mjs';

// Built-in modules whose native state Node cannot write into a snapshot: loading node:http
// (its HTTP parser binding), node:http2 (its session state) or node:tls (its JSStream binding) at
// build time aborts `node --build-snapshot` ("global handle not serialized", "Unknown external
// reference"). The bundled code requires them at load (the AWS SDK's HTTP handlers, dockerode's
// modem): each such require gets a stand-in that loads the real module at its first use, which
// comes after the snapshot is restored.
const DEFERRED = ['http', 'https', 'http2', 'tls'];

// Their export names, as the agent's Node has them: what the stand-in reports before it has loaded
// the module (esbuild's ESM interop copies a module's names when it is evaluated, at build time).
const exportNames = JSON.parse(
  execFileSync(
    agentNodePath(),
    [
      '-p',
      `JSON.stringify(Object.fromEntries(${JSON.stringify(DEFERRED)}.map((n) => [n, Object.keys(require(n))])))`,
    ],
    { encoding: 'utf8' },
  ),
);

function standIn(name) {
  // `constants` (node:http2's) is read at load by the AWS SDK's HTTP/2 handler and used later:
  // it gets a stand-in of its own. Assignments to an object that inherits from the module (the
  // follow-redirects pattern) land on that object, as they would without a stand-in.
  return `let real;
const load = () => (real ??= require(${JSON.stringify(`node:${name}`)}));
const names = ${JSON.stringify(exportNames[name])};
const deferredObject = (key) => new Proxy({}, {
  get: (_t, k) => Reflect.get(load()[key], k),
  has: (_t, k) => Reflect.has(load()[key], k),
  ownKeys: () => Reflect.ownKeys(load()[key]),
  getOwnPropertyDescriptor: (_t, k) => ({ ...Reflect.getOwnPropertyDescriptor(load()[key], k), configurable: true }),
});
const module_ = new Proxy({}, {
  get: (_t, k) => (real === undefined && k === 'constants' ? deferredObject(k) : Reflect.get(load(), k)),
  set: (_t, k, v, receiver) => receiver === module_ ? Reflect.set(load(), k, v) : Reflect.defineProperty(receiver, k, { value: v, writable: true, enumerable: true, configurable: true }),
  has: (_t, k) => (real === undefined ? names.includes(k) : Reflect.has(real, k)),
  ownKeys: () => (real === undefined ? names : Reflect.ownKeys(real)),
  getOwnPropertyDescriptor: (_t, k) => real !== undefined
    ? { ...Reflect.getOwnPropertyDescriptor(real, k), configurable: true }
    : names.includes(k) ? { configurable: true, enumerable: true, writable: true, value: undefined } : undefined,
  getPrototypeOf: () => Object.prototype,
});
module.exports = module_;`;
}

const deferredBuiltins = {
  name: 'deferred-builtins',
  setup(pluginBuild) {
    const filter = new RegExp(`^(node:)?(${DEFERRED.join('|')})$`);
    pluginBuild.onResolve({ filter }, (args) =>
      args.namespace === 'taupage-deferred'
        ? { path: args.path, external: true }
        : { path: args.path.replace(/^node:/, ''), namespace: 'taupage-deferred' },
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'taupage-deferred' }, (args) => ({
      contents: standIn(args.path),
      loader: 'js',
    }));
  },
};

// A process started from a snapshot has no dynamic import(): `import('node:…')` becomes require().
const builtinImportsByRequire = {
  name: 'builtin-imports-by-require',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^node:/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: args.path, namespace: 'taupage-dynamic-builtin' } : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'taupage-dynamic-builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/** Writes dist/taupage-snapshot.cjs; `plugins`: the stubs the ESM bundle uses too. */
export async function buildSnapshotBundle({ plugins, define }) {
  await build({
    plugins: [...plugins, deferredBuiltins, builtinImportsByRequire],
    entryPoints: ['src/snapshot.ts'],
    outfile: 'dist/taupage-snapshot.cjs',
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    legalComments: 'none',
    minify: true,
    keepNames: true,
    logLevel: 'warning',
    external: ['cpu-features'],
    // node-cron's ESM build names its (unused) daemon file by import.meta.url, which CommonJS lacks.
    define: { ...define, 'import.meta.url': '__taupageModuleUrl' },
    banner: { js: 'var __taupageModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
  });
}
