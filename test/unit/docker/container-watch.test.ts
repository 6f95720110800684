import { describe, expect, it } from 'vitest';
import type { ContainerInfo } from '../../../src/docker/container-runtime.js';
import { CRASH_LOOP, ContainerWatch } from '../../../src/docker/container-watch.js';
import { powerOffReason } from '../../../src/lifecycle/host-power.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');

function info(overrides: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    id: 'c1',
    name: 'taupageapp',
    state: 'running',
    exitCode: undefined,
    restartCount: 0,
    oomKilled: false,
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: undefined,
    health: undefined,
    labels: {},
    imageId: 'sha256:1',
    ...overrides,
  };
}

function watch(lastSeen?: { id: string; restartCount: number; finishedAt: string | undefined }) {
  return new ContainerWatch({ maximumRetryCount: 10, lastSeen });
}

describe('ContainerWatch: restarts, exits, OOM kills and crash loops, each reported once', () => {
  it('reports nothing for a fresh running container, however often it is inspected', () => {
    const w = watch();
    expect(w.observe(info(), T0)).toEqual([]);
    expect(w.observe(info(), T0 + 5_000)).toEqual([]);
    expect(w.history).toMatchObject({ restarts: 0, exits: 0, oomKills: 0, crashLoop: undefined });
  });

  it('reports a Docker restart with the exit code from the die event, once', () => {
    const w = watch();
    w.observe(info(), T0);
    w.event({ action: 'die', containerId: 'c1', name: 'taupageapp', exitCode: 3, at: T0 + 1 }, T0 + 1);
    const found = w.observe(info({ restartCount: 1, finishedAt: '2026-01-01T00:00:01Z' }), T0 + 2);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ kind: 'restarted', count: 1, exitCode: 3, whileAgentDown: false });
    expect(found[0]?.message).toMatch(/restarted the container once .*last exit code 3/);
    expect(w.observe(info({ restartCount: 1, finishedAt: '2026-01-01T00:00:01Z' }), T0 + 3)).toEqual([]);
    expect(w.history.restarts).toBe(1);
  });

  it('counts restarts it never saw one by one (lossy events) from RestartCount', () => {
    const w = watch();
    w.observe(info(), T0);
    const found = w.observe(info({ restartCount: 2, finishedAt: '2026-01-01T00:00:02Z' }), T0 + 5_000);
    expect(found.map((item) => [item.kind, item.count])).toEqual([['restarted', 2]]);
  });

  it('reports a crash loop once when restarts pile up inside the window, and clears it after a quiet window', () => {
    const w = watch();
    w.observe(info(), T0);
    const kinds: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const found = w.observe(
        info({ restartCount: i, finishedAt: `2026-01-01T00:00:0${i}Z`, state: 'restarting', exitCode: 3 }),
        T0 + i * 1000,
      );
      kinds.push(...found.map((item) => item.kind));
    }
    expect(kinds.filter((kind) => kind === 'crash-loop')).toHaveLength(1);
    expect(kinds.filter((kind) => kind === 'restarted')).toHaveLength(5);
    expect(w.history.crashLoop).toMatchObject({ restarts: 5, windowSeconds: CRASH_LOOP.windowMs / 1000 });
    const quiet = T0 + 5_000 + CRASH_LOOP.windowMs;
    w.observe(info({ restartCount: 5, finishedAt: '2026-01-01T00:00:05Z' }), quiet);
    expect(w.history.crashLoop).toBeUndefined();
  });

  it('two restarts are not a crash loop', () => {
    const w = watch();
    w.observe(info(), T0);
    w.observe(info({ restartCount: 1, finishedAt: 'a' }), T0 + 1000);
    const found = w.observe(info({ restartCount: 2, finishedAt: 'b' }), T0 + 2000);
    expect(found.map((item) => item.kind)).toEqual(['restarted']);
    expect(w.history.crashLoop).toBeUndefined();
  });

  it('reports that Docker gave up when the container exited non-zero after the last retry', () => {
    const w = watch();
    w.observe(info({ restartCount: 9, state: 'restarting', finishedAt: 'x', exitCode: 3 }), T0);
    const found = w.observe(
      info({ restartCount: 10, state: 'exited', finishedAt: 'y', exitCode: 3 }),
      T0 + 1000,
    );
    expect(found.map((item) => item.kind)).toEqual(['restarted', 'gave-up']);
    expect(found[1]?.message).toMatch(
      /exited with code 3 and Docker gave up restarting it after 10 restarts/,
    );
    expect(w.history.gaveUp).toBe(true);
  });

  it('a clean exit (code 0) is an exit Docker does not restart, not a give-up', () => {
    const w = watch();
    w.observe(info(), T0);
    const found = w.observe(info({ state: 'exited', exitCode: 0, finishedAt: 'z' }), T0 + 1000);
    expect(found.map((item) => [item.kind, item.exitCode])).toEqual([['exited', 0]]);
    expect(w.history).toMatchObject({ exits: 1, gaveUp: false, lastExit: { exitCode: 0, oomKilled: false } });
  });

  it('reports an OOM kill from State.OOMKilled, and from the oom event without double counting', () => {
    const fromInspect = watch();
    fromInspect.observe(info(), T0);
    const found = fromInspect.observe(
      info({ state: 'restarting', restartCount: 1, exitCode: 137, oomKilled: true, finishedAt: 'f1' }),
      T0 + 1000,
    );
    expect(found.map((item) => item.kind)).toEqual(['restarted', 'oom-killed']);

    const fromEvent = watch();
    fromEvent.observe(info(), T0);
    const event = {
      action: 'oom' as const,
      containerId: 'c1',
      name: 'taupageapp',
      exitCode: undefined,
      at: T0,
    };
    expect(fromEvent.event(event, T0 + 500).map((item) => item.kind)).toEqual(['oom-killed']);
    expect(fromEvent.event(event, T0 + 600)).toEqual([]);
    // The restart that follows shows OOMKilled gone (Docker resets it on start): still one OOM kill.
    const after = fromEvent.observe(info({ restartCount: 1, finishedAt: 'f1' }), T0 + 1000);
    expect(after.map((item) => item.kind)).toEqual(['restarted']);
    expect(fromEvent.history.oomKills).toBe(1);
    expect(fromEvent.history.lastExit?.oomKilled).toBe(true);
  });

  it('reports what happened while the agent was down by comparing with the last seen state', () => {
    const w = watch({ id: 'c1', restartCount: 1, finishedAt: 'f1' });
    const found = w.observe(info({ restartCount: 4, finishedAt: 'f4', state: 'running' }), T0);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ kind: 'restarted', count: 3, whileAgentDown: true });
    expect(found[0]?.message).toMatch(/3 times while the agent was down/);
    expect(w.lastSeen).toEqual({ id: 'c1', restartCount: 4, finishedAt: 'f4' });
  });

  it('without a last seen state, Docker’s own counters of an adopted container are reported', () => {
    const w = watch(undefined);
    const found = w.observe(info({ restartCount: 2, state: 'exited', exitCode: 0, finishedAt: 'f' }), T0);
    expect(found.map((item) => [item.kind, item.whileAgentDown])).toEqual([
      ['restarted', true],
      ['exited', true],
    ]);
  });

  it('reports a removed container once and takes a recreated one as new', () => {
    const w = watch();
    w.observe(info(), T0);
    expect(w.observe(undefined, T0 + 1000).map((item) => item.kind)).toEqual(['removed']);
    expect(w.observe(undefined, T0 + 2000)).toEqual([]);
    expect(w.observe(info({ id: 'c2' }), T0 + 3000)).toEqual([]);
    expect(w.lastSeen?.id).toBe('c2');
  });

  it('ignores events of another container with the same name', () => {
    const w = watch();
    w.observe(info(), T0);
    const event = {
      action: 'oom' as const,
      containerId: 'other',
      name: 'taupageapp',
      exitCode: undefined,
      at: T0,
    };
    expect(w.event(event, T0)).toEqual([]);
  });

  it('keeps only the newest occurrences for /status', () => {
    const w = watch();
    w.observe(info(), T0);
    for (let i = 1; i <= 30; i++)
      w.observe(info({ restartCount: i, finishedAt: `f${i}` }), T0 + i * CRASH_LOOP.windowMs);
    expect(w.history.recent).toHaveLength(20);
    expect(w.history.restarts).toBe(30);
  });
});

describe('shutdown: power off only on a final exit the policy accepts', () => {
  const exited = (exitCode: number) => info({ state: 'exited', exitCode, finishedAt: 'f' });
  it.each([
    ['never', exited(0), false],
    ['on-exit', exited(0), true],
    ['on-exit', exited(3), true],
    ['on-success', exited(0), true],
    ['on-success', exited(3), false],
    ['on-exit', info({ state: 'restarting', exitCode: 3 }), false],
    ['on-exit', info(), false],
    ['on-exit', undefined, false],
  ] as const)('%s with %o → power off: %s', (policy, container, expected) => {
    expect(powerOffReason(policy, container) !== undefined).toBe(expected);
  });

  it('says why', () => {
    expect(powerOffReason('on-success', exited(0))).toBe(
      'the container exited with code 0 (shutdown: on-success)',
    );
  });
});
