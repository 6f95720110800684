import type { Server } from 'node:http';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import type { Redactor } from '../core/redactor.js';
import type { OperatorSurface } from '../metrics/operator-surface.js';
import type { AgentState } from '../status/agent-state.js';
import type { ErrorReporter } from '../status/error-reporter.js';
import { baseUrl, close, listen } from '../status/status-server.js';
import type { ShutdownWork } from './shutdown.js';
import { openStatusEndpoint, type StatusEndpoint } from './status-endpoint.js';

export interface AgentEndpointsDependencies {
  readonly statusListen: { readonly host: string; readonly port: number };
  /** The status endpoint opened before the composition (cli/status-first.ts) at statusListen, if any. */
  readonly statusEndpoint?: StatusEndpoint | undefined;
  /** Prometheus /metrics and CloudWatch (loaded after the status endpoint is up). */
  readonly loadOperator?: (() => Promise<OperatorSurface>) | undefined;
  readonly processStartedAt: number;
  readonly state: AgentState;
  readonly errors: ErrorReporter;
  readonly redactor: Redactor;
  readonly clock: Clock;
  readonly log: Logger;
}

/** The agent's HTTP side: the status endpoint first (nothing heavy on its path), then /metrics. */
export class AgentEndpoints {
  readonly #deps: AgentEndpointsDependencies;
  #status: Server | undefined;
  #metrics: Server | undefined;
  #operator: OperatorSurface | undefined;

  constructor(deps: AgentEndpointsDependencies) {
    this.#deps = deps;
  }

  /** /metrics, CloudWatch and the agent's counters; undefined until loaded (or when it failed). */
  get operator(): OperatorSurface | undefined {
    return this.#operator;
  }

  /** False when the status endpoint cannot listen: the agent then exits (nothing to show). */
  async openStatus(): Promise<boolean> {
    const { state, clock, log, statusListen, redactor, processStartedAt } = this.#deps;
    // Opened already (`taupage agent`), or tried and failed: then once more here, as without it.
    let endpoint = this.#deps.statusEndpoint;
    if (endpoint?.server === undefined)
      endpoint = await openStatusEndpoint({ listen: statusListen, state, redactor, clock, processStartedAt });
    if (endpoint.server === undefined) {
      log.error({ err: endpoint.error }, 'Cannot open the status endpoint');
      return false;
    }
    endpoint.onRequest = (path, code) =>
      this.#operator?.agentMetrics.statusRequests.inc({ path, code: String(code) });
    this.#status = endpoint.server;
    // Logged once pino has loaded, which `taupage agent` does after it listens: the figures are from then.
    log.info(
      { url: endpoint.url, startupMs: endpoint.startupMs, startupCpuMs: endpoint.startupCpuMs },
      'Status endpoint listening',
    );
    return true;
  }

  /**
   * Prometheus /metrics. A port already taken (another exporter on :9100) must not stop the
   * app from booting: the error is logged and shown in GET /status instead.
   */
  async openMetrics(): Promise<OperatorSurface | undefined> {
    const { log } = this.#deps;
    let metricsServer: typeof import('../metrics/metrics-server.js');
    try {
      this.#operator = await this.#deps.loadOperator?.();
      // With prom-client, loaded here and not by the entry point: not on the path to "status ready".
      metricsServer = await import('../metrics/metrics-server.js');
    } catch (error) {
      log.error({ err: error }, 'Cannot load the metrics stack; continuing without it');
      return undefined;
    }
    const operator = this.#operator;
    if (operator?.metricsListen === undefined) return operator;
    const server = metricsServer.createMetricsServer({
      render: operator.renderMetrics,
      log: log.child({ component: 'metrics' }),
    });
    try {
      const address = await listen(server, operator.metricsListen.host, operator.metricsListen.port);
      this.#metrics = server;
      const url = `${baseUrl(address)}/metrics`;
      this.#deps.state.endpointListening('metrics', url);
      log.info({ url }, 'Metrics endpoint listening');
    } catch (error) {
      log.error({ err: error }, 'Cannot open the metrics endpoint; continuing without it');
      this.#deps.errors.reportFailure('metrics', {
        code: 'INTERNAL',
        message: `Cannot open the metrics endpoint: ${(error as Error).message}`,
      });
    }
    return operator;
  }

  /** The endpoints' shutdown stages: /metrics, then the status endpoint (near the end). */
  shutdownWork(): ShutdownWork {
    const metrics = this.#metrics;
    const status = this.#status;
    return {
      ...(metrics === undefined ? {} : { 'metrics-endpoint': () => close(metrics) }),
      ...(status === undefined ? {} : { 'status-endpoint': () => close(status) }),
    };
  }
}
