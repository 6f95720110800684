import { describe, expect, it } from 'vitest';
import { logPipelineState } from '../../../src/app/compose-logs.js';
import { AgentLogSource } from '../../../src/logs/agent-log-source.js';
import type { LogPipelineStatus } from '../../../src/logs/log-pipeline.js';
import { AgentMetrics } from '../../../src/metrics/agent-metrics.js';
import { AgentState } from '../../../src/status/agent-state.js';
import { BootTimeline } from '../../../src/status/boot-timeline.js';
import { statusDocument } from '../../../src/status/status-document.js';
import { renderStatusPage } from '../../../src/status/status-page.js';
import { formatStatusText } from '../../../src/status/status-text.js';

const clock = { now: () => 1_000_000, sleep: () => Promise.resolve() };

function newState(): AgentState {
  return new AgentState(new BootTimeline(clock, []), {
    version: '1.0.0',
    commit: 'abc',
    mode: 'ec2',
    startedAt: new Date(0).toISOString(),
  });
}

/** What LogPipeline.status() returns with one healthy and one failing destination. */
function pipelineStatus(overrides: { delivered?: number; dropped?: number } = {}): LogPipelineStatus {
  return {
    sources: [
      { name: 'application', running: true, lines: 1_500, lastError: undefined },
      { name: '/var/log/syslog', running: false, lines: 7, lastError: 'EACCES: permission denied' },
    ],
    destinations: [
      {
        name: 'cloudwatch-logs',
        delivered: overrides.delivered ?? 1_200,
        rejected: 3,
        sampledOut: 0,
        dropped: overrides.dropped ?? 40,
        failures: 5,
        failing: true,
        lastError: 'ThrottlingException: Rate exceeded',
        lagBytes: 65_536,
        lagSeconds: 93.5,
      },
      {
        name: 's3',
        delivered: 1_507,
        rejected: 0,
        sampledOut: 0,
        dropped: 0,
        failures: 0,
        failing: false,
        lastError: undefined,
        lagBytes: 0,
        lagSeconds: 0,
      },
    ],
    spool: { diskBytes: 81_920, pendingBytes: 12 },
    lostRecords: 43,
  };
}

describe('log shipping in AgentState', () => {
  it('maps the pipeline per destination (delivered, rejected, dropped, failing, lag) and per source', () => {
    expect(logPipelineState(pipelineStatus())).toEqual({
      destinations: [
        {
          destination: 'cloudwatch-logs',
          lagSeconds: 93.5,
          spoolBytes: 65_536,
          droppedLines: 43,
          delivered: 1_200,
          rejected: 3,
          dropped: 40,
          sampledOut: 0,
          failures: 5,
          failing: true,
          lastError: 'ThrottlingException: Rate exceeded',
        },
        {
          destination: 's3',
          lagSeconds: 0,
          spoolBytes: 0,
          droppedLines: 0,
          delivered: 1_507,
          rejected: 0,
          dropped: 0,
          sampledOut: 0,
          failures: 0,
          failing: false,
          lastError: undefined,
        },
      ],
      sources: [
        { name: 'application', running: true, lines: 1_500, lastError: undefined },
        { name: '/var/log/syslog', running: false, lines: 7, lastError: 'EACCES: permission denied' },
      ],
      spool: { diskBytes: 81_920, pendingBytes: 12 },
    });
  });

  it('GET /status has the same shape before log shipping starts, with nulls for what is not there', () => {
    const document = statusDocument(newState(), clock.now());
    expect(document.logShipping).toEqual({ destinations: [], sources: [], spool: null, agentLog: null });
  });

  it('reads the pipeline and the agent log buffer at each request, never a stale copy', () => {
    const state = newState();
    let current = pipelineStatus({ dropped: 40 });
    state.logPipelineStarted(() => logPipelineState(current));
    const agentLog = new AgentLogSource({ maxLines: 2 });
    state.agentLogBuffered(() => agentLog.status());
    for (let i = 0; i < 5; i++) agentLog.write(`{"msg":"line ${String(i)}"}\n`);
    const first = JSON.parse(JSON.stringify(statusDocument(state, clock.now()))) as {
      logShipping: Record<string, unknown>;
    };
    expect(first.logShipping).toMatchObject({
      destinations: [
        { destination: 'cloudwatch-logs', dropped: 40, droppedLines: 43 },
        { destination: 's3' },
      ],
      sources: [
        { name: 'application', lines: 1_500 },
        { name: '/var/log/syslog', running: false },
      ],
      spool: { diskBytes: 81_920 },
      agentLog: { state: 'buffering', queuedLines: 2, droppedLines: 3 },
    });
    current = pipelineStatus({ dropped: 90 });
    expect(state.logShipping.destinations[0]).toMatchObject({ dropped: 90, droppedLines: 93 });
  });
});

describe('taupage_log_* metrics', () => {
  it('a scrape has every family with destination/outcome labels, refilled from the state each time', async () => {
    const state = newState();
    let current = pipelineStatus();
    state.logPipelineStarted(() => logPipelineState(current));
    const agentLog = new AgentLogSource({ maxLines: 1 });
    state.agentLogBuffered(() => agentLog.status());
    agentLog.write('{"msg":"a"}\n');
    agentLog.write('{"msg":"b"}\n');
    const metrics = new AgentMetrics(state);
    const text = await metrics.registry.metrics();
    for (const line of [
      '# TYPE taupage_log_records_total counter',
      'taupage_log_records_total{destination="cloudwatch-logs",outcome="delivered"} 1200',
      'taupage_log_records_total{destination="cloudwatch-logs",outcome="rejected"} 3',
      'taupage_log_records_total{destination="cloudwatch-logs",outcome="dropped"} 40',
      'taupage_log_records_total{destination="s3",outcome="delivered"} 1507',
      'taupage_log_records_total{destination="s3",outcome="dropped"} 0',
      '# TYPE taupage_log_delivery_failures_total counter',
      'taupage_log_delivery_failures_total{destination="cloudwatch-logs"} 5',
      'taupage_log_delivery_failures_total{destination="s3"} 0',
      '# TYPE taupage_log_destination_lag_bytes gauge',
      'taupage_log_destination_lag_bytes{destination="cloudwatch-logs"} 65536',
      'taupage_log_destination_lag_seconds{destination="cloudwatch-logs"} 93.5',
      'taupage_log_destination_lag_seconds{destination="s3"} 0',
      'taupage_log_destination_failing{destination="cloudwatch-logs"} 1',
      'taupage_log_destination_failing{destination="s3"} 0',
      '# TYPE taupage_log_source_lines_total counter',
      'taupage_log_source_lines_total{source="application"} 1500',
      'taupage_log_source_lines_total{source="/var/log/syslog"} 7',
      'taupage_log_spool_disk_bytes 81920',
      '# TYPE taupage_log_agent_log_dropped_lines_total counter',
      'taupage_log_agent_log_dropped_lines_total 1',
    ])
      expect(text).toContain(`${line}\n`);

    // More drops: the next scrape shows them (counters grow, nothing kept from the last scrape).
    current = pipelineStatus({ delivered: 1_300, dropped: 140 });
    agentLog.write('{"msg":"c"}\n');
    const next = await metrics.registry.metrics();
    expect(next).toContain(
      'taupage_log_records_total{destination="cloudwatch-logs",outcome="dropped"} 140\n',
    );
    expect(next).toContain(
      'taupage_log_records_total{destination="cloudwatch-logs",outcome="delivered"} 1300\n',
    );
    expect(next).toContain('taupage_log_agent_log_dropped_lines_total 2\n');
    expect(metrics.names()).toEqual(
      expect.arrayContaining([
        'taupage_log_records_total',
        'taupage_log_delivery_failures_total',
        'taupage_log_destination_lag_bytes',
        'taupage_log_destination_lag_seconds',
        'taupage_log_destination_failing',
        'taupage_log_source_lines_total',
        'taupage_log_spool_disk_bytes',
        'taupage_log_agent_log_dropped_lines_total',
      ]),
    );
  });

  it('before log shipping starts: no per-destination series, zero spool and agent-log drops', async () => {
    const text = await new AgentMetrics(newState()).registry.metrics();
    expect(text).not.toMatch(/^taupage_log_records_total\{/m);
    expect(text).toContain('taupage_log_spool_disk_bytes 0\n');
    expect(text).toContain('taupage_log_agent_log_dropped_lines_total 0\n');
  });
});

describe('status page and text', () => {
  it('show per destination whether it fails, what it dropped and rejected, and its lag', () => {
    const state = newState();
    state.logPipelineStarted(() => logPipelineState(pipelineStatus()));
    const document = JSON.parse(JSON.stringify(statusDocument(state, clock.now()))) as Record<
      string,
      unknown
    >;
    const text = formatStatusText(document);
    expect(text).toContain(
      'logs          cloudwatch-logs FAILING (ThrottlingException: Rate exceeded), 1200 delivered, 40 dropped, 3 rejected, lag 93.5 s / 65536 bytes\n',
    );
    expect(text).toContain('logs          s3 ok, 1507 delivered, 0 dropped, 0 rejected, lag 0 s / 0 bytes\n');
    const page = renderStatusPage(document);
    expect(page).toContain(
      '<tr><td>cloudwatch-logs</td><td><span class="badge bad">failing</span> ThrottlingException: Rate exceeded</td><td>1200</td><td>0</td><td class="failed">40</td><td class="failed">3</td><td>5</td><td>93.5 s, 65536 bytes</td></tr>',
    );
    expect(page).toContain('<tr><td>s3</td><td><span class="badge ok">ok</span></td><td>1507</td><td>0</td>');
    expect(page).toContain(
      '<tr><th>source /var/log/syslog</th><td>7 lines, stopped: EACCES: permission denied</td></tr>',
    );
    expect(page).toContain('<tr><th>spool</th><td>81920 bytes on disk</td></tr>');
  });

  it('show what Scalyr sampling rules left out, per destination', () => {
    const state = newState();
    const shipping = pipelineStatus();
    state.logPipelineStarted(() =>
      logPipelineState({
        ...shipping,
        destinations: [
          ...shipping.destinations,
          {
            name: 'scalyr',
            delivered: 900,
            rejected: 0,
            sampledOut: 250,
            dropped: 0,
            failures: 0,
            failing: false,
            lastError: undefined,
            lagBytes: 0,
            lagSeconds: 0,
          },
        ],
      }),
    );
    const document = JSON.parse(JSON.stringify(statusDocument(state, clock.now()))) as Record<
      string,
      unknown
    >;
    const page = renderStatusPage(document);
    expect(page).toContain('<th>sampled out</th>');
    expect(page).toContain(
      '<tr><td>scalyr</td><td><span class="badge ok">ok</span></td><td>900</td><td>250</td><td>0</td><td>0</td><td>0</td><td>0 s, 0 bytes</td></tr>',
    );
    expect(page).toContain(
      '<tr><td>s3</td><td><span class="badge ok">ok</span></td><td>1507</td><td>0</td><td>0</td>',
    );
    expect(formatStatusText(document)).toContain(
      'logs          scalyr ok, 900 delivered, 250 sampled out, 0 dropped, 0 rejected, lag 0 s / 0 bytes\n',
    );
  });
});
