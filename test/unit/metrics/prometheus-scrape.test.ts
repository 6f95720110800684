import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../../src/metrics/agent-metrics.js';
import { ContainerMetrics } from '../../../src/metrics/container-metrics.js';
import { instrumentDecrypter } from '../../../src/metrics/instrumented-ports.js';
import { gauge, single } from '../../../src/metrics/metric-family.js';
import { PrometheusScrape } from '../../../src/metrics/prometheus-scrape.js';
import { TaupageError } from '../../../src/core/errors.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { FakeContainerStats } from '../../fakes/fake-container-stats.js';

function newState(): AgentState {
  let now = 1_000_000;
  const clock = { now: () => (now += 10), sleep: () => Promise.resolve() };
  return new AgentState(new BootTimeline(clock, [{ name: 'pull', description: 'pull' }]), {
    version: '1.2.3',
    commit: 'abc',
    mode: 'ec2',
    startedAt: new Date().toISOString(),
  });
}

const running = {
  id: 'c0ffee',
  name: 'taupageapp',
  state: 'running' as const,
  exitCode: undefined,
  restartCount: 2,
  oomKilled: false,
  startedAt: undefined,
  finishedAt: undefined,
  health: undefined,
  labels: {},
  imageId: 'sha256:1',
};

describe('PrometheusScrape', () => {
  it('a failing collector reports success 0 and the rest of the scrape still works', async () => {
    const state = newState();
    const scrape = new PrometheusScrape({
      collectors: [
        { name: 'good', collect: () => Promise.resolve([gauge('node_good', 'good', single(1))]) },
        { name: 'bad', collect: () => Promise.reject(new Error('boom')) },
      ],
      textfileDir: undefined,
      container: undefined,
      agent: new AgentMetrics(state),
    });
    const text = await scrape.render();
    expect(text).toContain('node_good 1\n');
    expect(text).toContain('node_scrape_collector_success{collector="bad"} 0\n');
    expect(text).toContain('node_scrape_collector_success{collector="good"} 1\n');
    expect(text).toContain('taupage_build_info{version="1.2.3",commit="abc",mode="ec2"} 1');
    expect(text).toContain('taupage_boot_state{state="booting"} 1');
  });

  it('counts KMS calls by outcome through the instrumented port', async () => {
    const metrics = new AgentMetrics(newState());
    const decrypter = instrumentDecrypter(
      {
        decrypt: (ciphertext) =>
          ciphertext.length > 0
            ? Promise.reject(new TaupageError('SECRET_ACCESS_DENIED', 'denied'))
            : Promise.reject(new TaupageError('SECRET_UNAVAILABLE', 'throttled')),
      },
      metrics,
    );
    await expect(decrypter.decrypt(Buffer.from('x'), AbortSignal.timeout(1000))).rejects.toThrow('denied');
    await expect(decrypter.decrypt(Buffer.alloc(0), AbortSignal.timeout(1000))).rejects.toThrow('throttled');
    const text = await metrics.registry.metrics();
    expect(text).toContain('taupage_kms_decrypt_calls_total{outcome="SECRET_ACCESS_DENIED"} 1');
    expect(text).toContain('taupage_kms_decrypt_calls_total{outcome="SECRET_UNAVAILABLE"} 1');
  });
});

describe('instrumentDecrypter', () => {
  it('passes the encryption_context on to the decrypter it wraps', async () => {
    const seen: (ReadonlyMap<string, string> | undefined)[] = [];
    const decrypter = instrumentDecrypter(
      {
        decrypt: (_ciphertext, _signal, context) => {
          seen.push(context);
          return Promise.reject(new TaupageError('SECRET_INVALID', 'stop here'));
        },
      },
      new AgentMetrics(newState()),
    );
    const context = new Map([['application', 'hello']]);
    await expect(decrypter.decrypt(Buffer.from('x'), AbortSignal.timeout(1000), context)).rejects.toThrow(
      'stop here',
    );
    expect(seen).toEqual([context]);
  });
});

describe('ContainerMetrics', () => {
  it('renders state at once and Docker stats after a background refresh; never waits for Docker', async () => {
    const state = newState();
    state.containerObserved(running);
    const stats = new FakeContainerStats();
    stats.samples.set('c0ffee', {
      cpuSeconds: 12.5,
      memoryUsageBytes: 300,
      memoryWorkingSetBytes: 200,
      memoryLimitBytes: 1000,
      networks: [
        { interface: 'eth0', receiveBytes: 10, transmitBytes: 20, receivePackets: 1, transmitPackets: 2 },
      ],
    });
    const metrics = new ContainerMetrics({
      state,
      stats: () => stats,
      clock: { now: Date.now, sleep: () => Promise.resolve() },
      log: pino({ level: 'silent' }),
    });
    const first = metrics.families().map((family) => family.name);
    expect(first).toEqual([
      'taupage_container_running',
      'taupage_container_restarts_total',
      'taupage_container_oom_killed',
    ]);
    await metrics.refresh();
    const names = metrics.families().map((family) => family.name);
    expect(names).toContain('taupage_container_cpu_seconds_total');
    expect(names).toContain('taupage_container_memory_limit_bytes');
    expect(names).toContain('taupage_container_network_transmit_bytes_total');
    stats.unavailable = true;
    await metrics.refresh(); // a failing refresh keeps the last sample
    expect(metrics.families().map((family) => family.name)).toContain('taupage_container_cpu_seconds_total');
  });
});
