/**
 * How systemd/taupage.service starts `taupage agent`, read from the unit file's text, so that the
 * e2e tests and the benches run the agent as instances do (test/support/agent-process.ts,
 * bench/boot). A pure module: it takes the unit's text, not a path (bench bundles live elsewhere).
 */

/** The Node.js flags of the unit's ExecStart, between the node binary and the bundle. */
export function serviceNodeFlags(unit: string): string[] {
  const exec = /^ExecStart=(\S+) (.*?)\s*\/opt\/taupage\/taupage\.mjs agent$/m.exec(unit);
  if (!exec) throw new Error('taupage.service: no ExecStart of taupage.mjs agent');
  return (exec[2] ?? '').split(/\s+/).filter((flag) => flag !== '');
}

/**
 * The variables of the unit's Environment= lines (NAME=value words, no quoting: the unit uses
 * none). NODE_COMPILE_CACHE is left out: it names the AMI's /opt/taupage path; tests and benches
 * give the agent their own cache, or none.
 */
export function serviceEnvironment(unit: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [, words = ''] of unit.matchAll(/^Environment=(.*)$/gm)) {
    for (const word of words.trim().split(/\s+/)) {
      const eq = word.indexOf('=');
      if (eq <= 0) throw new Error(`taupage.service: Environment= word without NAME=value: ${word}`);
      const name = word.slice(0, eq);
      if (name !== 'NODE_COMPILE_CACHE') env[name] = word.slice(eq + 1);
    }
  }
  return env;
}
