import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AgentState } from '../status/agent-state.js';
import type { LogShippingState } from '../status/log-shipping-state.js';

/**
 * The agent's own metrics (`taupage_*`), kept in a prom-client registry that belongs to this
 * object (never the library's global one: one agent per process, but tests build several).
 * Gauges that mirror AgentState are filled in at scrape time (`collect`), so they never lag.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly imagePulls: Counter<'outcome'>;
  readonly imagePullDuration: Histogram;
  readonly kmsDecryptCalls: Counter<'outcome'>;
  readonly kmsDecryptDuration: Histogram;
  readonly statusRequests: Counter<'path' | 'code'>;
  readonly cloudwatchRequests: Counter<'outcome'>;
  readonly cloudwatchDatums: Counter;
  readonly errors: Counter<'code'>;
  readonly containerEvents: Counter<'kind'>;

  constructor(state: AgentState) {
    const registers = [this.registry];
    // process_* (RSS, CPU, fds) and nodejs_* (event loop lag, heap): the agent's own footprint.
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'taupage_build_info',
      help: 'Always 1; the labels say which taupage build runs.',
      labelNames: ['version', 'commit', 'mode'],
      registers,
      collect() {
        this.reset();
        this.set({ version: state.agent.version, commit: state.agent.commit, mode: state.agent.mode }, 1);
      },
    });
    new Gauge({
      name: 'taupage_boot_state',
      help: 'The boot state: 1 for the current one of booting, succeeded, failed.',
      labelNames: ['state'],
      registers,
      collect() {
        for (const bootState of ['booting', 'succeeded', 'failed'] as const)
          this.set({ state: bootState }, state.bootState === bootState ? 1 : 0);
      },
    });
    new Gauge({
      name: 'taupage_boot_duration_seconds',
      help: 'Time from the first boot step to the end of the last one.',
      registers,
      collect() {
        const total = state.timeline.totalMs;
        if (total === undefined) this.reset();
        else this.set(total / 1000);
      },
    });
    new Gauge({
      name: 'taupage_boot_step_duration_seconds',
      help: 'How long each boot step took (steps that ran).',
      labelNames: ['step', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const step of state.timeline.steps) {
          if (step.durationMs !== undefined)
            this.set({ step: step.name, outcome: step.outcome }, step.durationMs / 1000);
        }
      },
    });
    new Gauge({
      name: 'taupage_health_check_passing',
      help: '1 while the application health check passes, 0 while it fails (after the thresholds); absent without a check.',
      registers,
      collect() {
        this.reset();
        if (state.health.status === 'passing' || state.health.status === 'failing')
          this.set(state.health.status === 'passing' ? 1 : 0);
      },
    });
    new Counter({
      name: 'taupage_health_check_transitions_total',
      help: 'Changes of the application health check state since the agent started, by the state entered (passing, failing).',
      labelNames: ['to'],
      registers,
      collect() {
        this.reset();
        const counts = state.health.transitionCounts;
        this.inc({ to: 'passing' }, counts.passing);
        this.inc({ to: 'failing' }, counts.failing);
      },
    });
    registerLogShippingMetrics(state, registers);
    registerEtcdMetrics(state, registers);
    this.imagePulls = new Counter({
      name: 'taupage_image_pulls_total',
      help: 'Image pull attempts, by outcome (success or the error code).',
      labelNames: ['outcome'],
      registers,
    });
    this.imagePullDuration = new Histogram({
      name: 'taupage_image_pull_duration_seconds',
      help: 'Duration of image pull attempts.',
      buckets: [1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.kmsDecryptCalls = new Counter({
      name: 'taupage_kms_decrypt_calls_total',
      help: 'KMS Decrypt calls, by outcome (success or the error code).',
      labelNames: ['outcome'],
      registers,
    });
    this.kmsDecryptDuration = new Histogram({
      name: 'taupage_kms_decrypt_duration_seconds',
      help: 'Duration of KMS Decrypt calls, SDK retries included.',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.statusRequests = new Counter({
      name: 'taupage_status_requests_total',
      help: 'Requests to the status endpoint, by path and HTTP status.',
      labelNames: ['path', 'code'],
      registers,
    });
    this.cloudwatchRequests = new Counter({
      name: 'taupage_cloudwatch_put_metric_data_total',
      help: 'PutMetricData requests, by outcome (success or the error code).',
      labelNames: ['outcome'],
      registers,
    });
    this.cloudwatchDatums = new Counter({
      name: 'taupage_cloudwatch_datums_total',
      help: 'Metric datums CloudWatch accepted.',
      registers,
    });
    this.errors = new Counter({
      name: 'taupage_errors_total',
      help: 'Errors the agent recorded (also in GET /status under lastErrors), by code.',
      labelNames: ['code'],
      registers,
      // Counted by AgentState (the ErrorReporter's store), so errors before this registry existed count too.
      collect() {
        this.reset();
        for (const [code, count] of state.errorCounts) this.inc({ code }, count);
      },
    });
    this.containerEvents = new Counter({
      name: 'taupage_container_events_total',
      help: 'What happened to the app container (restarted, exited, gave-up, oom-killed, crash-loop, removed, recreated).',
      labelNames: ['kind'],
      registers,
    });
  }

  /** Names of every family in the registry (the textfile collector must not shadow them). */
  names(): string[] {
    return this.registry.getMetricsAsArray().map((metric) => metric.name);
  }
}

/**
 * `taupage_log_*`: what log shipping delivered, lost and how far behind it is, read from
 * AgentState at scrape time (the pipeline's own counters since the agent started). Totals are
 * Counters refilled in `collect` (reset, then inc by the current count): real counter semantics,
 * reset only by an agent restart, which rate() handles.
 */
function registerLogShippingMetrics(state: AgentState, registers: Registry[]): void {
  new Counter({
    name: 'taupage_log_records_total',
    help: 'Log records per destination by outcome: delivered, rejected (refused for good by the destination), dropped (the spool disk bound was hit), sampled_out (left out by Scalyr sampling rules).',
    labelNames: ['destination', 'outcome'],
    registers,
    collect() {
      this.reset();
      for (const d of state.logShipping.destinations) {
        this.inc({ destination: d.destination, outcome: 'delivered' }, d.delivered);
        this.inc({ destination: d.destination, outcome: 'rejected' }, d.rejected);
        this.inc({ destination: d.destination, outcome: 'dropped' }, d.dropped);
        if (d.sampledOut > 0) this.inc({ destination: d.destination, outcome: 'sampled_out' }, d.sampledOut);
      }
    },
  });
  new Counter({
    name: 'taupage_log_delivery_failures_total',
    help: 'Failed log delivery attempts per destination (each one retried).',
    labelNames: ['destination'],
    registers,
    collect() {
      this.reset();
      for (const d of state.logShipping.destinations) this.inc({ destination: d.destination }, d.failures);
    },
  });
  const perDestination = (
    name: string,
    help: string,
    value: (destination: LogShippingState) => number,
  ): void => {
    new Gauge({
      name,
      help,
      labelNames: ['destination'],
      registers,
      collect() {
        this.reset();
        for (const d of state.logShipping.destinations) this.set({ destination: d.destination }, value(d));
      },
    });
  };
  perDestination(
    'taupage_log_destination_lag_bytes',
    'Spool bytes the destination has not yet acknowledged.',
    (d) => d.spoolBytes,
  );
  perDestination(
    'taupage_log_destination_lag_seconds',
    '0 when the destination is caught up; else seconds since its last acknowledged delivery or since it fell behind, whichever is later.',
    (d) => d.lagSeconds,
  );
  perDestination(
    'taupage_log_destination_failing',
    '1 while the destination’s deliveries keep failing (being retried), else 0.',
    (d) => (d.failing ? 1 : 0),
  );
  new Counter({
    name: 'taupage_log_source_lines_total',
    help: 'Lines read per log source.',
    labelNames: ['source'],
    registers,
    collect() {
      this.reset();
      for (const source of state.logShipping.sources) this.inc({ source: source.name }, source.lines);
    },
  });
  new Gauge({
    name: 'taupage_log_spool_disk_bytes',
    help: 'Bytes of log spool segments on disk (bounded by the spool’s disk limit).',
    registers,
    collect() {
      this.set(state.logShipping.spool?.diskBytes ?? 0);
    },
  });
  new Counter({
    name: 'taupage_log_agent_log_dropped_lines_total',
    help: 'Lines of the agent’s own log lost because its buffer before the log pipeline was full.',
    registers,
    collect() {
      this.reset();
      this.inc(state.logShipping.agentLog?.droppedLines ?? 0);
    },
  });
}

/**
 * `taupage_etcd_*` (`etcd_discovery_domain`): the heartbeat and the instance-local etcd, read
 * from AgentState at scrape time; absent without etcd. Totals are refilled counters, as above.
 */
function registerEtcdMetrics(state: AgentState, registers: Registry[]): void {
  new Gauge({
    name: 'taupage_etcd_registered',
    help: '1 while the instance is registered in etcd under `key` (the app is healthy and etcd took the last heartbeat), else 0.',
    labelNames: ['key'],
    registers,
    collect() {
      this.reset();
      const registration = state.etcd?.registration;
      if (registration !== undefined && registration !== null)
        this.set({ key: registration.key }, registration.registered ? 1 : 0);
    },
  });
  new Counter({
    name: 'taupage_etcd_heartbeats_total',
    help: 'etcd heartbeats by outcome: registered (etcd took the PUT), failed (etcd away or refusing), skipped (the app was not healthy).',
    labelNames: ['outcome'],
    registers,
    collect() {
      this.reset();
      const registration = state.etcd?.registration;
      if (registration === undefined || registration === null) return;
      this.inc({ outcome: 'registered' }, registration.beats);
      this.inc({ outcome: 'failed' }, registration.failures);
      this.inc({ outcome: 'skipped' }, registration.skipped);
    },
  });
  new Gauge({
    name: 'taupage_etcd_server_up',
    help: '1 while the instance-local etcd the agent runs (proxy or single node) is running, else 0; absent when the agent runs none.',
    labelNames: ['mode'],
    registers,
    collect() {
      this.reset();
      const server = state.etcd?.server;
      if (server !== undefined && server !== null)
        this.set({ mode: server.mode }, server.state === 'running' ? 1 : 0);
    },
  });
  new Counter({
    name: 'taupage_etcd_server_failures_total',
    help: 'Exits of the instance-local etcd and failed starts (discovery, spawn), each followed by a restart.',
    labelNames: ['mode'],
    registers,
    collect() {
      this.reset();
      const server = state.etcd?.server;
      if (server !== undefined && server !== null) this.inc({ mode: server.mode }, server.failures);
    },
  });
}
