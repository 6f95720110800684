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
