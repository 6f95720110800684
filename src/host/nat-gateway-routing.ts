import { appendFile, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { TaupageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { lastLine, runCommand, type CommandResult } from './disks/run-command.js';
import type { CommandRunner } from './sysctl-settings.js';

/** The original's names (init.d/00-create-custom-routing.py): table 150 "https", fwmark 443. */
export const HTTPS_ROUTE_TABLE = 150;
export const HTTPS_ROUTE_TABLE_NAME = 'https';
export const HTTPS_FWMARK = 443;
/** Traffic to 172.16.0.0/12 (the VPC side in Zalando's layout) is never sent to the NAT gateway. */
export const NOT_ROUTED_CIDR = '172.16.0.0/12';
export const RT_TABLES = '/etc/iproute2/rt_tables';
const COMMAND_TIMEOUT_MS = 10_000;

/** One idempotent change: `check` tells whether it is in place already; `apply` makes it so. */
export interface RoutingStep {
  readonly what: string;
  readonly check?: { readonly argv: readonly string[]; readonly inPlace: (result: CommandResult) => boolean };
  readonly apply: readonly string[];
}

/**
 * The commands of `nat_gateways` policy routing, in order: mark outbound TCP 443 (not to
 * 172.16/12) in mangle OUTPUT; exempt the region's S3 prefixes before the mark (RETURN ends
 * the mangle chain, so they keep the main table: S3 gateway endpoints, no NAT charges); send
 * marked packets to table 150; its default route is the NAT gateway. Each step checks first
 * (`iptables -C`, `ip rule show`), so a restarted agent adds nothing twice; `ip route replace`
 * moves the route if the gateway changed. Table ids, never names: the steps do not depend on
 * rt_tables. Argv arrays only (execFile).
 */
export function natRoutingSteps(natGatewayIp: string, s3Prefixes: readonly string[] = []): RoutingStep[] {
  if (isIP(natGatewayIp) !== 4)
    throw new TaupageError('HOST_TUNING_FAILED', `nat_gateways: ${natGatewayIp} is not an IPv4 address`);
  const mark = [
    'OUTPUT',
    '-p',
    'tcp',
    '!',
    '-d',
    NOT_ROUTED_CIDR,
    '--dport',
    String(HTTPS_FWMARK),
    '-j',
    'MARK',
    '--set-mark',
    String(HTTPS_FWMARK),
  ];
  const steps: RoutingStep[] = [
    {
      what: 'mark outbound HTTPS',
      check: { argv: ['iptables', '-w', '-t', 'mangle', '-C', ...mark], inPlace: (r) => r.exitCode === 0 },
      apply: ['iptables', '-w', '-t', 'mangle', '-A', ...mark],
    },
  ];
  for (const prefix of s3Prefixes) {
    const exempt = ['OUTPUT', '-d', prefix, '-p', 'tcp', '--dport', String(HTTPS_FWMARK), '-j', 'RETURN'];
    steps.push({
      what: `exempt S3 ${prefix}`,
      check: { argv: ['iptables', '-w', '-t', 'mangle', '-C', ...exempt], inPlace: (r) => r.exitCode === 0 },
      apply: ['iptables', '-w', '-t', 'mangle', '-I', 'OUTPUT', '1', ...exempt.slice(1)],
    });
  }
  const table = String(HTTPS_ROUTE_TABLE);
  const markHex = `0x${HTTPS_FWMARK.toString(16)}`;
  steps.push(
    {
      what: 'rule for marked packets',
      check: {
        argv: ['ip', '-4', 'rule', 'show'],
        inPlace: (r) =>
          r.exitCode === 0 &&
          r.stdout
            .split('\n')
            .some(
              (line) =>
                line.includes(`fwmark ${markHex} `) &&
                new RegExp(`lookup (${table}|${HTTPS_ROUTE_TABLE_NAME})\\s*$`).test(line),
            ),
      },
      apply: ['ip', '-4', 'rule', 'add', 'fwmark', String(HTTPS_FWMARK), 'lookup', table],
    },
    {
      what: 'default route via the NAT gateway',
      apply: ['ip', '-4', 'route', 'replace', 'default', 'via', natGatewayIp, 'table', table],
    },
  );
  return steps;
}

/** rt_tables gets `150 https` once (the original appended it at every boot, and /etc persists). */
export async function ensureRouteTableName(path = RT_TABLES): Promise<void> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const entry = new RegExp(`^\\s*${HTTPS_ROUTE_TABLE}\\s+${HTTPS_ROUTE_TABLE_NAME}\\s*$`, 'm');
  if (entry.test(text)) return;
  await appendFile(
    path,
    `${text === '' || text.endsWith('\n') ? '' : '\n'}${HTTPS_ROUTE_TABLE}\t${HTTPS_ROUTE_TABLE_NAME}\n`,
  );
}

export interface NatRoutingOptions {
  readonly run?: CommandRunner;
  readonly rtTablesPath?: string;
  readonly log: Logger;
}

export type NatRoutingOutcome = 'not-configured' | 'subnet-not-listed' | 'routed';

/**
 * `nat_gateways`: when this instance's subnet is in the map, route outbound HTTPS through its
 * NAT gateway (see natRoutingSteps). Not listed: a warning, as in the original. A failing
 * command fails the boot with HOST_TUNING_FAILED naming the command. Routes and iptables rules
 * live in memory, so this runs at every boot.
 */
export async function applyNatGatewayRouting(
  input: {
    readonly natGateways: ReadonlyMap<string, string>;
    /** The primary interface's subnet (IMDS: mac → network/interfaces/macs/<mac>/subnet-id). */
    readonly subnetId: string | undefined;
    /** The region's S3 prefixes to exempt (see fetchS3Prefixes); empty when unknown. */
    readonly s3Prefixes?: readonly string[];
  },
  options: NatRoutingOptions,
  signal: AbortSignal,
): Promise<NatRoutingOutcome> {
  if (input.natGateways.size === 0) return 'not-configured';
  const gateway = input.subnetId === undefined ? undefined : input.natGateways.get(input.subnetId);
  if (gateway === undefined) {
    options.log.warn(
      { subnetId: input.subnetId },
      'This subnet is not in nat_gateways; HTTPS is not routed through a NAT gateway',
    );
    return 'subnet-not-listed';
  }
  const run = options.run ?? runCommand;
  const steps = natRoutingSteps(gateway, input.s3Prefixes);
  try {
    await ensureRouteTableName(options.rtTablesPath);
  } catch (error) {
    throw new TaupageError(
      'HOST_TUNING_FAILED',
      `nat_gateways: could not name table ${HTTPS_ROUTE_TABLE} in ${options.rtTablesPath ?? RT_TABLES}`,
      { cause: error },
    );
  }
  const exec = async (argv: readonly string[]): Promise<CommandResult> => {
    const [file = '', ...args] = argv;
    try {
      return await run(file, args, { signal, timeoutMs: COMMAND_TIMEOUT_MS });
    } catch (error) {
      throw new TaupageError('HOST_TUNING_FAILED', `nat_gateways: ${argv.join(' ')} could not run`, {
        cause: error,
      });
    }
  };
  let changed = 0;
  for (const step of steps) {
    if (step.check !== undefined && step.check.inPlace(await exec(step.check.argv))) continue;
    const result = await exec(step.apply);
    if (result.exitCode !== 0) {
      throw new TaupageError(
        'HOST_TUNING_FAILED',
        `nat_gateways: ${step.apply.join(' ')} failed (exit ${result.exitCode}): ${lastLine(result.stderr)}`,
      );
    }
    changed++;
  }
  options.log.info(
    { subnetId: input.subnetId, gateway, changed, s3Prefixes: input.s3Prefixes?.length ?? 0 },
    'Routing outbound HTTPS through the NAT gateway',
  );
  return 'routed';
}

/**
 * The region's S3 IPv4 prefixes from AWS's ip-ranges.json (service "S3"). The original crashed
 * the boot when the download failed; callers here should log and route without exemptions.
 */
export async function fetchS3Prefixes(
  region: string,
  signal: AbortSignal,
  url = 'https://ip-ranges.amazonaws.com/ip-ranges.json',
): Promise<string[]> {
  const response = await fetch(url, {
    signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
    redirect: 'error',
  });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`${url} answered HTTP ${response.status}`);
  }
  const document = (await response.json()) as { prefixes?: unknown };
  if (!Array.isArray(document.prefixes)) throw new Error(`${url} has no prefixes list`);
  const prefixes = new Set<string>();
  for (const entry of document.prefixes as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { ip_prefix: prefix, region: where, service } = entry as Record<string, unknown>;
    if (
      service === 'S3' &&
      where === region &&
      typeof prefix === 'string' &&
      /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(prefix)
    )
      prefixes.add(prefix);
  }
  return [...prefixes].sort();
}
