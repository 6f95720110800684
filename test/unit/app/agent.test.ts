import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, type AgentDependencies } from '../../../src/app/agent.js';
import type { RunningLogShipping } from '../../../src/app/agent-services.js';
import { BOOT_STEPS } from '../../../src/app/boot.js';
import type { AgentAudit } from '../../../src/audit/agent-audit.js';
import type { SignalStatus } from '../../../src/cloudformation/stack-signaller.js';
import { systemClock, type Clock } from '../../../src/core/clock.js';
import { TaupageError } from '../../../src/core/errors.js';
import { ExitCode } from '../../../src/core/exit-codes.js';
import { Redactor } from '../../../src/core/redactor.js';
import type { HostPower } from '../../../src/lifecycle/host-power.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { AgentErrorReporter } from '../../../src/status/error-reporter.js';
import { FakeContainerRuntime } from '../../fakes/fake-container-runtime.js';
import { FakeInstanceMetadata } from '../../fakes/fake-instance-metadata.js';
import { FakeSecretDecrypter } from '../../fakes/fake-secret-decrypter.js';
import { eventually } from '../../support/test-env.js';

const IMAGE = 'registry.example.org/team/app:1.0';

/** Real time, but every sleep a thousand times shorter: shutdown budgets of seconds pass in milliseconds. */
const fastClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => systemClock.sleep(ms / 1000, signal),
};

/**
 * Like fastClock, but `now` moves on by the whole of every sleep that ran out: budgets of seconds
 * pass in milliseconds and still add up to seconds on this clock.
 */
function skippingClock(): Clock {
  let skipped = 0;
  return {
    now: () => Date.now() + skipped,
    sleep: async (ms, signal) => {
      await systemClock.sleep(ms / 1000, signal);
      skipped += ms - ms / 1000;
    },
  };
}

function userData(extra = ''): string {
  return `runtime: Docker\nsource: ${IMAGE}\napplication_id: kio\napplication_version: "1.0"\nnotify_cfn:\n  stack: kio-1\n  resource: AppServer\n${extra}`;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-agent-unit-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An agent on fakes that writes down, in one list, what it does on the way out. */
function setup(options: {
  userData: string | undefined;
  hostStopping?: boolean;
  logStop?: () => Promise<void>;
  clock?: Clock;
  /** The signal hangs (CloudFormation throttling it) until its AbortSignal ends it. */
  signalHangs?: boolean;
}) {
  const clock = options.clock ?? fastClock;
  const events: string[] = [];
  const signals: SignalStatus[] = [];
  /** Background work started after the boot. */
  const started: string[] = [];
  const runtime = new FakeContainerRuntime();
  runtime.registry.add(IMAGE);
  const state = new AgentState(new BootTimeline(clock, BOOT_STEPS), {
    version: 'test',
    commit: 'test',
    mode: 'ec2',
    startedAt: new Date().toISOString(),
  });
  const audit: AgentAudit = {
    start: () => undefined,
    identify: () => undefined,
    record: (type) => {
      if (type === 'agent.stop' || type === 'agent.error') events.push(`audit ${type}`);
    },
    flush: () => Promise.resolve(true),
    stop: () => {
      events.push('audit stopped');
      return Promise.resolve();
    },
  };
  const hostPower: HostPower = {
    isShuttingDown: () => {
      events.push('app: is the host shutting down?');
      return Promise.resolve(options.hostStopping ?? false);
    },
    powerOff: () => Promise.resolve(),
  };
  const pipeline: RunningLogShipping = {
    status: () => ({
      sources: [],
      destinations: [],
      spool: { diskBytes: 0, pendingBytes: 0 },
      lostRecords: 0,
    }),
    stop: async () => {
      events.push('logs flushing');
      await (options.logStop ?? (() => Promise.resolve()))();
      events.push('logs flushed');
    },
  };
  const redactor = new Redactor();
  const metadata = new FakeInstanceMetadata(options.userData);
  const deps: AgentDependencies = {
    metadata,
    loadAdapters: () => Promise.resolve({ runtime, secretDecrypter: () => new FakeSecretDecrypter() }),
    statusListen: { host: '127.0.0.1', port: 0 },
    removeContainerOnExit: false,
    processStartedAt: Date.now(),
    audit,
    createStackSignaller: () =>
      Promise.resolve({
        signal: (_target, status, _uniqueId, abort) => {
          signals.push(status);
          if (options.signalHangs !== true) return Promise.resolve();
          return new Promise((_resolve, reject) => {
            abort.addEventListener('abort', () => {
              events.push('signal aborted');
              reject(new Error('aborted'));
            });
          });
        },
      }),
    startLogShipping: () => Promise.resolve(pipeline),
    hostPower,
    lastSeenFile: undefined,
    hostLifecycle: {
      start: () => {
        started.push('host lifecycle');
        return Promise.resolve();
      },
      stop: () => void events.push('background stopped'),
    },
    clock,
    log: pino({ level: 'silent' }),
    redactor,
    state,
    errors: new AgentErrorReporter({ state, redactor, clock, audit }),
    settings: {
      defaults: {},
      metaDir: dir,
      containerName: `taupage-agent-unit-${Date.now()}`,
      applicationUser: '999:999',
      pullInactivityTimeoutMs: 1000,
      healthCheckHost: '127.0.0.1',
    },
  };
  return { agent: new Agent(deps), deps, state, runtime, events, signals, started, metadata };
}

describe('Agent', () => {
  it('boots, supervises until the signal, then shuts down in order: background, app, logs, endpoints, audit', async () => {
    const { agent, state, events, signals } = setup({ userData: userData() });
    const controller = new AbortController();
    const running = agent.run(controller.signal);
    await eventually(() => Promise.resolve(state.bootState === 'succeeded' ? true : undefined), 'the boot');
    const status = state.endpoints.status;
    expect(signals).toEqual(['SUCCESS']);
    controller.abort();
    expect(await running).toBe(ExitCode.Ok);
    expect(events).toEqual([
      'background stopped',
      'app: is the host shutting down?',
      'logs flushing',
      'logs flushed',
      'audit agent.stop',
      'audit stopped',
    ]);
    // The status endpoint was closed before the audit stage.
    await expect(fetch(status ?? 'http://127.0.0.1:1/')).rejects.toThrow();
  });

  // Issue 16: dockerode and the AWS SDK clients load while IMDS answers and the config is parsed,
  // not before the boot starts: the imds and config steps do not wait for them.
  it('runs the imds and config steps while the heavy adapters are still loading', async () => {
    const { deps, state } = setup({ userData: userData() });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const loadAdapters = deps.loadAdapters;
    const slow = new Agent({
      ...deps,
      loadAdapters: async (metrics) => {
        await gate;
        return loadAdapters(metrics);
      },
    });
    const controller = new AbortController();
    const running = slow.run(controller.signal);
    await eventually(
      () =>
        Promise.resolve(
          state.timeline.steps.find((step) => step.name === 'config')?.durationMs !== undefined
            ? true
            : undefined,
        ),
      'the config step, done before the adapters are loaded',
    );
    expect(state.bootState).not.toBe('succeeded');
    release();
    await eventually(() => Promise.resolve(state.bootState === 'succeeded' ? true : undefined), 'the boot');
    controller.abort();
    expect(await running).toBe(ExitCode.Ok);
  });

  it('does not hold the after-boot work for a SUCCESS signal that is still retrying, and ends it at shutdown', async () => {
    const { agent, state, events, signals, started } = setup({ userData: userData(), signalHangs: true });
    const controller = new AbortController();
    const running = agent.run(controller.signal);
    await eventually(
      () => Promise.resolve(started.includes('host lifecycle') ? true : undefined),
      'the host lifecycle, started while the signal is still out',
    );
    expect(signals).toEqual(['SUCCESS']);
    expect(state.bootState).toBe('succeeded');
    controller.abort();
    expect(await running).toBe(ExitCode.Ok);
    expect(events).toContain('signal aborted');
  });

  it('cuts a log flush that hangs at its budget and still ships the audit trail', async () => {
    const { agent, state, events } = setup({
      userData: userData(),
      logStop: () => new Promise(() => undefined),
    });
    const controller = new AbortController();
    const running = agent.run(controller.signal);
    await eventually(() => Promise.resolve(state.bootState === 'succeeded' ? true : undefined), 'the boot');
    controller.abort();
    expect(await running).toBe(ExitCode.Ok);
    expect(events).toEqual([
      'background stopped',
      'app: is the host shutting down?',
      'logs flushing',
      'audit agent.stop',
      'audit stopped',
    ]);
  });

  it('gives the app its docker.stop_timeout on top of the shutdown deadline once the config is known', async () => {
    const { agent, state } = setup({ userData: userData('docker:\n  stop_timeout: 60\n') });
    expect(agent.shutdownDeadlineMs).toBe(40_000);
    const controller = new AbortController();
    const running = agent.run(controller.signal);
    await eventually(() => Promise.resolve(state.bootState === 'succeeded' ? true : undefined), 'the boot');
    expect(agent.shutdownDeadlineMs).toBe(90_000);
    controller.abort();
    await running;
  });

  it('gives each shutdown stage at most what is left of the deadline from the signal', async () => {
    const clock = skippingClock();
    const { agent, state, events, runtime } = setup({
      userData: userData(),
      hostStopping: true,
      logStop: () => new Promise(() => undefined),
      clock,
    });
    // The app ignores its docker stop: the app stage runs to its budget (stop timeout + margin).
    runtime.stopContainer = () => new Promise(() => undefined);
    const controller = new AbortController();
    const running = agent.run(controller.signal);
    await eventually(() => Promise.resolve(state.bootState === 'succeeded' ? true : undefined), 'the boot');
    const signalledAt = clock.now();
    controller.abort();
    expect(await running).toBe(ExitCode.Ok);
    // App (30 s) and logs (25 s) would take 55 s on their own budgets; the logs get what is left.
    expect(clock.now() - signalledAt).toBeLessThanOrEqual(agent.shutdownDeadlineMs + 1_000);
    expect(clock.now() - signalledAt).toBeGreaterThanOrEqual(agent.shutdownDeadlineMs - 1_000);
    expect(events).toEqual([
      'background stopped',
      'app: is the host shutting down?',
      'logs flushing',
      'audit agent.stop',
      'audit stopped',
    ]);
  });

  it('stops the app gracefully when the host shuts down, before the logs flush', async () => {
    const { agent, state, events, runtime } = setup({ userData: userData(), hostStopping: true });
    const controller = new AbortController();
    const running = agent.run(controller.signal);
    await eventually(() => Promise.resolve(state.bootState === 'succeeded' ? true : undefined), 'the boot');
    controller.abort();
    await running;
    const id = state.container?.id ?? '';
    expect(runtime.calls).toContain(`stop ${id}`);
    expect(runtime.calls).not.toContain(`remove ${id}`);
    expect(events.indexOf('logs flushing')).toBeGreaterThan(
      events.indexOf('app: is the host shutting down?'),
    );
  });

  it('a failed boot signals FAILURE and returns the documented exit code (invalid config: 2)', async () => {
    const { agent, state, signals, events } = setup({
      userData: userData().replace(`source: ${IMAGE}\n`, ''),
    });
    const code = await agent.run(new AbortController().signal);
    expect(code).toBe(ExitCode.InvalidConfig);
    expect(signals).toEqual(['FAILURE']);
    expect(state.bootState).toBe('failed');
    expect(agent.failure?.code).toBe('CONFIG_INVALID');
    expect(state.errors.map((error) => [error.component, error.code])).toEqual([['boot', 'CONFIG_INVALID']]);
    // Still an orderly shutdown (the audit trail records the error and the stop).
    expect(events).toEqual([
      'audit agent.error',
      'background stopped',
      // No container to stop: the host is not even asked.
      'audit agent.stop',
      'audit stopped',
    ]);
  });

  it('a boot that fails for good (image not found) exits 3 after FAILURE', async () => {
    const { agent, signals, runtime } = setup({ userData: userData() });
    runtime.registry.clear();
    expect(await agent.run(new AbortController().signal)).toBe(ExitCode.BootFailed);
    expect(signals).toEqual(['FAILURE']);
  });

  it('a boot that fails for a transient reason (exit 4) sends no FAILURE: systemd restarts the agent, and its next boot signals', async () => {
    const { agent, state, signals, runtime } = setup({ userData: userData() });
    // The registry keeps failing for longer than the boot retries it (exit 4, systemd restarts).
    runtime.pullFailures = Array.from(
      { length: 100 },
      () => new TaupageError('IMAGE_PULL_FAILED', 'registry answered 503'),
    );
    expect(await agent.run(new AbortController().signal)).toBe(ExitCode.Unavailable);
    expect(signals).toEqual([]);
    expect(state.bootState).toBe('failed');
    expect(agent.failure?.code).toBe('IMAGE_PULL_FAILED');
  });

  it('SIGTERM during the boot ends it without a FAILURE signal, with exit 0, and still shuts down in order', async () => {
    const { agent, state, signals, events, metadata } = setup({ userData: userData() });
    const controller = new AbortController();
    let reached!: () => void;
    const inImds = new Promise<void>((resolve) => {
      reached = resolve;
    });
    metadata.userData = (signal?: AbortSignal) =>
      new Promise<Buffer>((_resolve, reject) => {
        reached();
        signal?.addEventListener('abort', () => {
          reject(new DOMException('aborted', 'AbortError'));
        });
      });
    const running = agent.run(controller.signal);
    await inImds;
    controller.abort();
    expect(await running).toBe(ExitCode.Ok);
    expect(signals).toEqual([]);
    expect(state.bootState).toBe('booting');
    expect(state.errors).toEqual([]);
    expect(events).toEqual(['background stopped', 'audit agent.stop', 'audit stopped']);
  });
});
