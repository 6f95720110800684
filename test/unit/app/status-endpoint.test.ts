import { createServer } from 'node:http';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AgentEndpoints } from '../../../src/app/agent-endpoints.js';
import { BOOT_STEPS } from '../../../src/app/boot-steps.js';
import { adoptStatusFirst, openStatusFirst, type StatusFirst } from '../../../src/app/status-endpoint.js';
import { AgentErrorReporter } from '../../../src/status/error-reporter.js';
import { listen } from '../../../src/status/status-server.js';

/** The agent's endpoints over an early start, with its log lines. */
function endpointsOver(first: StatusFirst, port = first.endpoint.listen.port) {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const { state, redactor, clock } = first;
  const endpoints = new AgentEndpoints({
    statusListen: { host: '127.0.0.1', port },
    statusEndpoint: first.endpoint,
    processStartedAt: first.processStartedAt,
    state,
    errors: new AgentErrorReporter({ state, redactor, clock, audit: undefined }),
    redactor,
    clock,
    log,
  });
  return { endpoints, lines };
}

describe('the status endpoint opened before the agent loads (taupage agent)', () => {
  it('serves the state before the boot, and the agent adopts the same server and state', async () => {
    const first = await openStatusFirst('ec2', { host: '127.0.0.1', port: 0 });
    const { server, url } = first.endpoint;
    expect(server?.listening).toBe(true);
    expect(first.endpoint.startupMs).toBeGreaterThan(0);
    const status = (await (await fetch(url ?? '')).json()) as {
      agent: { mode: string; endpoints: { status?: string } };
      boot: { state: string; steps: { name: string; outcome: string }[] };
    };
    expect(status.agent.mode).toBe('ec2');
    expect(status.agent.endpoints.status).toBe(url);
    expect(status.boot.state).toBe('booting');
    expect(status.boot.steps.map((step) => [step.name, step.outcome])).toEqual(
      BOOT_STEPS.map((step) => [step.name, 'pending']),
    );

    expect(await adoptStatusFirst(first, 'ec2', { host: '127.0.0.1', port: 0 })).toBe(first);
    const { endpoints, lines } = endpointsOver(first);
    expect(await endpoints.openStatus()).toBe(true);
    const listening = lines.find((line) => line.msg === 'Status endpoint listening');
    expect(listening).toMatchObject({
      url,
      startupMs: first.endpoint.startupMs,
      startupCpuMs: first.endpoint.startupCpuMs,
    });
    expect(first.endpoint.startupCpuMs).toBeGreaterThan(0);
    // Later changes of the state show at once: it is the agent's state.
    first.state.bootFailed({ code: 'INVALID_CONFIG', message: 'bad' });
    expect(((await (await fetch(url ?? '')).json()) as { boot: { state: string } }).boot.state).toBe(
      'failed',
    );
    await endpoints.shutdownWork()['status-endpoint']?.();
    expect(server?.listening).toBe(false);
  });

  it('is closed and dropped when the full parse ends at another address or mode', async () => {
    const first = await openStatusFirst('ec2', { host: '127.0.0.1', port: 0 });
    expect(await adoptStatusFirst(first, 'ec2', { host: '127.0.0.1', port: 9101 })).toBeUndefined();
    expect(first.endpoint.server?.listening).toBe(false);
    const other = await openStatusFirst('ec2', { host: '127.0.0.1', port: 0 });
    expect(await adoptStatusFirst(other, 'local', { host: '127.0.0.1', port: 0 })).toBeUndefined();
    expect(other.endpoint.server?.listening).toBe(false);
    expect(await adoptStatusFirst(undefined, 'ec2', { host: '127.0.0.1', port: 0 })).toBeUndefined();
  });

  it('a port that was taken at the early start is tried once more by the agent, as without it', async () => {
    const blocker = createServer();
    const { port } = await listen(blocker, '127.0.0.1', 0);
    const first = await openStatusFirst('ec2', { host: '127.0.0.1', port });
    expect(first.endpoint.server).toBeUndefined();
    expect((first.endpoint.error as NodeJS.ErrnoException).code).toBe('EADDRINUSE');

    const taken = endpointsOver(first);
    expect(await taken.endpoints.openStatus()).toBe(false);
    expect(taken.lines.map((line) => line.msg)).toContain('Cannot open the status endpoint');

    await new Promise((resolve) => blocker.close(resolve));
    const freed = endpointsOver(first);
    expect(await freed.endpoints.openStatus()).toBe(true);
    const status = await fetch(`http://127.0.0.1:${String(port)}/status`);
    expect(status.status).toBe(200);
    await freed.endpoints.shutdownWork()['status-endpoint']?.();
  });
});
