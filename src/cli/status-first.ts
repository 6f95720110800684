import { DEFAULTS, isLoopback, parseListen } from '../app/settings.js';
import { openStatusFirst, type StatusFirst } from '../app/status-endpoint.js';

// `taupage agent` opens its status endpoint before the command line is parsed in full and before
// the agent loads (commander, the config schema, pino, the boot: most of the bundle), so "status
// ready" costs Node's start and node:http only (issue 16). main.ts calls statusFirst before it
// loads cli/program.ts. The two status flags are defined once, here: agent-options.ts builds
// their commander options from these definitions; statusFirst reads the same flag, variable and
// default, in commander's precedence (the last flag, then the variable, then the default).
// It only predicts: the agent keeps what it opened when the full parse ends at the same address
// (app/status-endpoint.ts adoptStatusFirst), so a wrong guess costs a close, never a behaviour.

/** `--status-listen <host:port>`. */
export const STATUS_LISTEN_OPTION = {
  flags: '--status-listen <host:port>',
  name: '--status-listen',
  description: 'status endpoint address (port 0 picks a free one)',
  env: 'TAUPAGE_STATUS_LISTEN',
  default: DEFAULTS.statusListen,
} as const;

/** `--status-allow-offhost` (a boolean flag: set by its presence, or by the variable's). */
export const STATUS_ALLOW_OFFHOST_OPTION = {
  flags: '--status-allow-offhost',
  name: '--status-allow-offhost',
  description: 'allow --status-listen on a non-loopback address (the status shows instance details)',
  env: 'TAUPAGE_STATUS_ALLOW_OFFHOST',
  default: false,
} as const;

/**
 * The status address `taupage agent` with these arguments listens on, or undefined when the
 * arguments are not a plain agent start (another command, --help, a flag without its value, a
 * bad or off-host address without the allowing flag): those go the ordinary way, through the
 * full parse and its messages.
 */
export function agentStatusListen(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { host: string; port: number } | undefined {
  if (argv[0] !== 'agent') return undefined;
  let listen: string | undefined;
  let allowOffhost = false;
  for (let index = 1; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    if (arg === '--') break;
    if (arg === '-h' || arg === '--help') return undefined;
    if (arg === STATUS_ALLOW_OFFHOST_OPTION.name) allowOffhost = true;
    else if (arg === STATUS_LISTEN_OPTION.name) {
      listen = argv[index + 1];
      if (listen === undefined) return undefined;
      index++;
    } else if (arg.startsWith(`${STATUS_LISTEN_OPTION.name}=`))
      listen = arg.slice(STATUS_LISTEN_OPTION.name.length + 1);
  }
  listen ??= env[STATUS_LISTEN_OPTION.env] ?? STATUS_LISTEN_OPTION.default;
  allowOffhost ||= env[STATUS_ALLOW_OFFHOST_OPTION.env] !== undefined;
  try {
    const address = parseListen(listen);
    return isLoopback(address.host) || allowOffhost ? address : undefined;
  } catch {
    return undefined;
  }
}

/** For `taupage agent`: the state and the status endpoint, listening; undefined for anything else. */
export async function statusFirst(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<StatusFirst | undefined> {
  const listen = agentStatusListen(argv, env);
  return listen === undefined ? undefined : openStatusFirst('ec2', listen);
}
