import type { Server } from 'node:http';
import { systemClock, type Clock } from '../core/clock.js';
import { Redactor } from '../core/redactor.js';
import { AgentState } from '../status/agent-state.js';
import { BootTimeline } from '../status/boot-timeline.js';
import { healthChecks } from '../status/health-checks.js';
import { statusDocument } from '../status/status-document.js';
import { baseUrl, createStatusServer, listen } from '../status/status-server.js';
import { VERSION } from '../version.js';
import { BOOT_STEPS } from './boot-steps.js';

// The status endpoint and the state it serves, apart from the rest of the agent: `taupage agent`
// opens it before the CLI and the composition load (cli/status-first.ts, issue 16: process
// start → status ready), and compose.ts adopts what it opened. Imports only node:http and the
// status room: keep it that way, everything here is on the path to "status ready".

export interface StatusListen {
  readonly host: string;
  readonly port: number;
}

/** An attempt to open the status endpoint: the server when it listens, the error when it did not. */
export interface StatusEndpoint {
  /** The address asked for (port 0: a free one). */
  readonly listen: StatusListen;
  readonly server: Server | undefined;
  readonly url: string | undefined;
  readonly error: unknown;
  /** Process start → listening, ms. */
  readonly startupMs: number;
  /** The process's CPU time (user + system) until then, ms. */
  readonly startupCpuMs: number;
  /** Called once per answered request (taupage_status_requests_total, once /metrics is loaded). */
  onRequest: ((path: string, code: number) => void) | undefined;
}

/** The state and the status endpoint, opened before the composition; compose.ts adopts them. */
export interface StatusFirst {
  readonly mode: 'ec2' | 'local';
  readonly processStartedAt: number;
  readonly clock: Clock;
  readonly redactor: Redactor;
  readonly state: AgentState;
  readonly endpoint: StatusEndpoint;
}

/** The agent's state before the boot: what GET /status shows until the boot's first step. */
export function initialAgentState(clock: Clock, mode: 'ec2' | 'local', processStartedAt: number): AgentState {
  return new AgentState(new BootTimeline(clock, BOOT_STEPS), {
    version: VERSION.version,
    commit: VERSION.commit,
    mode,
    startedAt: new Date(processStartedAt).toISOString(),
  });
}

/** Creates the status server over `state` and listens; never throws (a failure is in `error`). */
export async function openStatusEndpoint(deps: {
  readonly listen: StatusListen;
  readonly state: AgentState;
  readonly redactor: Redactor;
  readonly clock: Clock;
  readonly processStartedAt: number;
}): Promise<StatusEndpoint> {
  const { state, clock } = deps;
  const endpoint: { -readonly [K in keyof StatusEndpoint]: StatusEndpoint[K] } = {
    listen: deps.listen,
    server: undefined,
    url: undefined,
    error: undefined,
    startupMs: 0,
    startupCpuMs: 0,
    onRequest: undefined,
  };
  const server = createStatusServer({
    status: () => statusDocument(state, clock.now()),
    checks: () => healthChecks(state, clock.now()),
    redactor: deps.redactor,
    now: () => clock.now(),
    onRequest: (path, code) => endpoint.onRequest?.(path, code),
  });
  try {
    const address = await listen(server, deps.listen.host, deps.listen.port);
    endpoint.server = server;
    endpoint.url = `${baseUrl(address)}/status`;
    state.endpointListening('status', endpoint.url);
  } catch (error) {
    endpoint.error = error;
  }
  endpoint.startupMs = Math.round(clock.now() - deps.processStartedAt);
  const cpu = process.cpuUsage();
  endpoint.startupCpuMs = Math.round((cpu.user + cpu.system) / 1000);
  return endpoint;
}

/** The state and the status endpoint of an agent in `mode`, before anything else of it loads. */
export async function openStatusFirst(mode: 'ec2' | 'local', listen: StatusListen): Promise<StatusFirst> {
  const clock = systemClock;
  const processStartedAt = Date.now() - Math.round(process.uptime() * 1000);
  const redactor = new Redactor();
  const state = initialAgentState(clock, mode, processStartedAt);
  const endpoint = await openStatusEndpoint({ listen, state, redactor, clock, processStartedAt });
  return { mode, processStartedAt, clock, redactor, state, endpoint };
}

/**
 * What compose.ts keeps of an early start: all of it when it was for this mode and address (what
 * the command line says, parsed in full), else nothing (its server closed): the agent then opens
 * the status endpoint as if there had been no early start.
 */
export async function adoptStatusFirst(
  first: StatusFirst | undefined,
  mode: 'ec2' | 'local',
  listen: StatusListen,
): Promise<StatusFirst | undefined> {
  if (first === undefined) return undefined;
  const { endpoint } = first;
  if (first.mode === mode && endpoint.listen.host === listen.host && endpoint.listen.port === listen.port)
    return first;
  const { server } = endpoint;
  if (server !== undefined) await new Promise((resolve) => server.close(resolve));
  return undefined;
}
