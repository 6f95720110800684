import { describe, expect, it } from 'vitest';
import { bootHealthPredicate } from '../../../src/app/compose-etcd.js';
import { BOOT_STEPS } from '../../../src/app/boot.js';
import { systemClock } from '../../../src/core/clock.js';
import type { ContainerInfo } from '../../../src/docker/container-runtime.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';

const container = (state: ContainerInfo['state']): ContainerInfo => ({
  id: 'c0ffee',
  name: 'taupageapp',
  state,
  exitCode: undefined,
  restartCount: 0,
  oomKilled: false,
  startedAt: undefined,
  finishedAt: undefined,
  health: undefined,
  labels: {},
  imageId: 'sha256:1',
});
const probe = (ok: boolean) => ({ ok, detail: ok ? 'HTTP 200' : 'HTTP 503', at: Date.now(), durationMs: 1 });

describe('the etcd heartbeat’s health predicate', () => {
  it('follows the boot gate, then the continuous monitor’s verdict, and the container’s state', () => {
    const state = new AgentState(new BootTimeline(systemClock, BOOT_STEPS), {
      version: 'test',
      commit: 'test',
      mode: 'ec2',
      startedAt: new Date().toISOString(),
    });
    const healthy = bootHealthPredicate(state);
    expect(healthy()).toBe(false); // booting: nothing known
    state.containerObserved(container('running'));
    state.health.checking('http://127.0.0.1:8080/health', false);
    expect(healthy()).toBe(false);
    state.health.bootGate(probe(true));
    expect(healthy()).toBe(true);
    // After the boot: three failed probes make it failing, one good one passing again.
    const thresholds = { failureThreshold: 3, successThreshold: 1 };
    for (let i = 0; i < 3; i++) state.health.record(probe(false), thresholds);
    expect(healthy()).toBe(false);
    state.health.record(probe(true), thresholds);
    expect(healthy()).toBe(true);
    state.containerObserved(container('exited'));
    expect(healthy()).toBe(false);
  });

  it('registers an app without a health check while its container runs', () => {
    const state = new AgentState(new BootTimeline(systemClock, BOOT_STEPS), {
      version: 'test',
      commit: 'test',
      mode: 'ec2',
      startedAt: new Date().toISOString(),
    });
    state.health.nothingToCheck();
    state.containerObserved(container('running'));
    expect(bootHealthPredicate(state)()).toBe(true);
  });
});
