import { Option, type Command } from 'commander';
import { DEFAULTS, parseListen } from '../app/settings.js';
import { ExitCode } from '../core/exit-codes.js';
import type { HealthCheckResult } from '../status/health-checks.js';
import { formatStatusText } from '../status/status-text.js';
import type { CliIo } from './output.js';

/** The status endpoint is local and answers in milliseconds; a hung agent should not hang the CLI. */
const STATUS_TIMEOUT_MS = 5_000;

function defaultUrl(): string {
  const { host, port } = parseListen(process.env.TAUPAGE_STATUS_LISTEN ?? DEFAULTS.statusListen);
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}/status`;
}

/**
 * `taupage status`: the running agent's GET /status for a human (or as JSON). Exit 0 when the
 * agent is healthy, 1 when it reports itself impaired, 4 when it cannot be reached.
 */
export function registerStatusCommand(
  program: Command,
  io: CliIo,
  setExitCode: (code: number) => void,
): void {
  program
    .command('status')
    .description("Show the running agent's status (GET /status of its status endpoint)")
    .addOption(
      new Option('--url <url>', 'status URL (default: from TAUPAGE_STATUS_LISTEN, else 127.0.0.1:9101)'),
    )
    .addOption(new Option('--format <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action(async (options: { url?: string; format: 'text' | 'json' }) => {
      const url = options.url ?? defaultUrl();
      let status: Record<string, unknown>;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        status = (await response.json()) as Record<string, unknown>;
      } catch (error) {
        io.stderr(`taupage: cannot read the agent status from ${url}: ${(error as Error).message}\n`);
        setExitCode(ExitCode.Unavailable);
        return;
      }
      io.stdout(
        options.format === 'json' ? `${JSON.stringify(status, null, 2)}\n` : formatStatusText(status),
      );
      const impaired = ((status.checks ?? []) as HealthCheckResult[]).some((check) => !check.ok);
      setExitCode(impaired ? ExitCode.Failure : ExitCode.Ok);
    });
}
