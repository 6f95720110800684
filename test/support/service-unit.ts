/**
 * How systemd/taupage.service starts `taupage agent`, read from the unit file's text, so that the
 * e2e tests and the benches run the agent as instances do (test/support/agent-process.ts,
 * bench/boot). A pure module: it takes the unit's text, not a path (bench bundles live elsewhere).
 */

/** The variable of the unit's ExecStart that holds the V8 startup snapshot flag (docs/ami.md). */
export const NODE_SNAPSHOT_VARIABLE = 'TAUPAGE_NODE_SNAPSHOT';

/** Variables naming the AMI's /opt/taupage files: tests and benches bring their own, or none. */
const AMI_PATH_VARIABLES = new Set(['NODE_COMPILE_CACHE', NODE_SNAPSHOT_VARIABLE]);

function execStartFlags(unit: string): string[] {
  const exec = /^ExecStart=(\S+) (.*?)\s*\/opt\/taupage\/taupage\.mjs agent$/m.exec(unit);
  if (!exec) throw new Error('taupage.service: no ExecStart of taupage.mjs agent');
  return (exec[2] ?? '').split(/\s+/).filter((flag) => flag !== '');
}

/**
 * The Node.js flags of the unit's ExecStart, between the node binary and the bundle. A `$NAME`
 * word is replaced as systemd does (the value split at whitespace, nothing when empty) by
 * `variables[NAME]`, or dropped when `variables` has no such name: `$TAUPAGE_NODE_SNAPSHOT`
 * names the AMI's snapshot, which a test or bench replaces by its own blob or leaves out.
 */
export function serviceNodeFlags(unit: string, variables: Readonly<Record<string, string>> = {}): string[] {
  return execStartFlags(unit).flatMap((word) =>
    word.startsWith('$')
      ? (variables[word.slice(1)] ?? '').split(/\s+/).filter((flag) => flag !== '')
      : [word],
  );
}

/** Whether the unit starts Node from the V8 startup snapshot (its ExecStart has the variable). */
export function serviceUsesSnapshot(unit: string): boolean {
  return execStartFlags(unit).includes(`$${NODE_SNAPSHOT_VARIABLE}`);
}

/**
 * The variables of the unit's Environment= lines (NAME=value words, no quoting: the unit uses
 * none). NODE_COMPILE_CACHE and TAUPAGE_NODE_SNAPSHOT are left out: they name the AMI's
 * /opt/taupage paths; tests and benches give the agent their own cache and snapshot, or none.
 */
export function serviceEnvironment(unit: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [, words = ''] of unit.matchAll(/^Environment=(.*)$/gm)) {
    for (const word of words.trim().split(/\s+/)) {
      const eq = word.indexOf('=');
      if (eq <= 0) throw new Error(`taupage.service: Environment= word without NAME=value: ${word}`);
      const name = word.slice(0, eq);
      if (!AMI_PATH_VARIABLES.has(name)) env[name] = word.slice(eq + 1);
    }
  }
  return env;
}
