import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULTS, isLoopback, parseListen } from '../../../src/app/settings.js';
import { addAgentOptions, addAuditAgentOptions, addCommonOptions } from '../../../src/cli/agent-options.js';
import { addIntegrationOptions } from '../../../src/cli/integration-options.js';
import { agentStatusListen } from '../../../src/cli/status-first.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

/** What the full parse (commander, the agent's flags) makes of `taupage agent ARGS`: the status address, or undefined. */
function fullParse(args: string[]): { host: string; port: number } | undefined {
  const agent = addCommonOptions(
    addAgentOptions(addIntegrationOptions(addAuditAgentOptions(new Command('agent')))),
    DEFAULTS.metaDir,
    DEFAULTS.defaultsFile,
  )
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  agent.parse(args, { from: 'user' });
  const options = agent.opts<{ statusListen: string; statusAllowOffhost: boolean }>();
  const listen = parseListen(options.statusListen);
  return isLoopback(listen.host) || options.statusAllowOffhost ? listen : undefined;
}

describe('agentStatusListen: the status address of `taupage agent`, before the full parse', () => {
  const cases: { args: string[]; env?: Record<string, string> }[] = [
    { args: [] },
    { args: ['--status-listen', '127.0.0.1:0'] },
    { args: ['--status-listen=127.0.0.1:9999'] },
    { args: ['--meta-dir', '/tmp/meta', '--status-listen', '127.0.0.1:1', '--status-listen', '[::1]:2'] },
    { args: [], env: { TAUPAGE_STATUS_LISTEN: '127.0.0.1:7777' } },
    { args: ['--status-listen', '127.0.0.1:1'], env: { TAUPAGE_STATUS_LISTEN: '127.0.0.1:7777' } },
    { args: ['--status-listen', '0.0.0.0:9101', '--status-allow-offhost'] },
    { args: ['--status-listen', '0.0.0.0:9101'], env: { TAUPAGE_STATUS_ALLOW_OFFHOST: '' } },
    { args: [], env: { TAUPAGE_STATUS_LISTEN: '10.0.0.1:9101', TAUPAGE_STATUS_ALLOW_OFFHOST: '1' } },
    { args: ['--imds-url', 'http://127.0.0.1:1', '--status-listen', 'localhost:0'] },
  ];
  for (const { args, env = {} } of cases)
    it(`${args.join(' ') || '(no flags)'} ${JSON.stringify(env)}: the address the full parse ends with`, () => {
      for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
      const predicted = agentStatusListen(['agent', ...args], process.env);
      expect(predicted).toBeDefined();
      expect(predicted).toEqual(fullParse(args));
    });

  it('leaves everything else to the full parse: other commands, --help, a flag without a value, a bad or off-host address', () => {
    const env = {};
    expect(agentStatusListen([], env)).toBeUndefined();
    expect(agentStatusListen(['local', '--config', 'x.yaml'], env)).toBeUndefined();
    expect(agentStatusListen(['status'], env)).toBeUndefined();
    expect(agentStatusListen(['agent', '--help'], env)).toBeUndefined();
    expect(agentStatusListen(['agent', '-h'], env)).toBeUndefined();
    expect(agentStatusListen(['agent', '--status-listen'], env)).toBeUndefined();
    expect(agentStatusListen(['agent', '--status-listen', 'nonsense'], env)).toBeUndefined();
    expect(agentStatusListen(['agent', '--status-listen', '0.0.0.0:9101'], env)).toBeUndefined();
    expect(agentStatusListen(['agent'], { TAUPAGE_STATUS_LISTEN: '10.0.0.1:1' })).toBeUndefined();
  });

  it('stops reading flags at --', () => {
    expect(agentStatusListen(['agent', '--', '--status-listen', '127.0.0.1:5'], {})).toEqual(
      parseListen(DEFAULTS.statusListen),
    );
  });
});

describe('what loads before the status endpoint listens', () => {
  /** The modules src/main.ts loads before its first import(): static, non-type imports, followed. */
  async function staticGraph(entry: string): Promise<string[]> {
    const seen = new Set<string>();
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = await readFile(file, 'utf8');
      for (const match of source.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)';/gms)) {
        const specifier = match[1] ?? '';
        if (specifier.startsWith('.')) await visit(resolve(dirname(file), specifier).replace(/\.js$/, '.ts'));
        else seen.add(specifier);
      }
    };
    await visit(resolve('src', entry));
    return [...seen].map((file) => (file.startsWith('/') ? relative(resolve('src'), file) : file)).sort();
  }

  it('is node:http, the status room and a few core modules: no commander, pino, config or boot', async () => {
    expect(await staticGraph('main.ts')).toEqual([
      'app/boot-steps.ts',
      'app/settings.ts',
      'app/status-endpoint.ts',
      'cli/output.ts',
      'cli/status-first.ts',
      'core/clock.ts',
      'core/errors.ts',
      'core/exit-codes.ts',
      'core/redactor.ts',
      'core/secret.ts',
      'health/application-health.ts',
      'main.ts',
      'node:http',
      'node:util',
      'status/agent-state.ts',
      'status/boot-timeline.ts',
      'status/health-checks.ts',
      'status/rate-limiter.ts',
      'status/status-document.ts',
      'status/status-page.ts',
      'status/status-server.ts',
      'version.ts',
    ]);
  });
});
