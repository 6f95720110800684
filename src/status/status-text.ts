import type { HealthCheckResult } from './health-checks.js';

/** GET /status as a few lines for a terminal (`taupage status`), most important first. */
export function formatStatusText(status: Record<string, unknown>): string {
  const get = (value: unknown, key: string): unknown =>
    typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  const s = (value: unknown): string =>
    value === undefined || value === null
      ? '-'
      : typeof value === 'string'
        ? value
        : typeof value === 'number' || typeof value === 'boolean'
          ? String(value)
          : JSON.stringify(value);
  const checks = (status.checks ?? []) as HealthCheckResult[];
  const failed = checks.filter((check) => !check.ok);
  const lines: string[] = [];
  const row = (label: string, value: string): void => {
    lines.push(`${label.padEnd(13)} ${value}`);
  };
  row(
    'state',
    failed.length === 0 ? 'OK' : `IMPAIRED (${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')})`,
  );
  const agent = status.agent;
  row(
    'agent',
    `taupage ${s(get(agent, 'version'))} (${s(get(agent, 'commit'))}), ${s(get(agent, 'mode'))} mode, up ${s(get(agent, 'uptimeSeconds'))} s`,
  );
  const instance = status.instance;
  if (instance !== null && instance !== undefined)
    row('instance', `${s(get(instance, 'instanceId'))} in ${s(get(instance, 'availabilityZone'))}`);
  const application = status.application;
  if (application !== null && application !== undefined) {
    row('application', `${s(get(application, 'id'))} ${s(get(application, 'version'))}`);
    row(
      'image',
      `${s(get(application, 'image'))}${get(application, 'imageDigest') ? ` (${s(get(application, 'imageDigest'))})` : ''}`,
    );
  }
  const boot = status.boot;
  const steps = (get(boot, 'steps') ?? []) as Record<string, unknown>[];
  row(
    'boot',
    `${s(get(boot, 'state'))}${get(boot, 'totalMs') === null ? '' : ` in ${s(get(boot, 'totalMs'))} ms`}: ${steps
      .map(
        (step) =>
          `${s(step.name)} ${s(step.outcome)}${step.durationMs === null || step.durationMs === undefined ? '' : ` ${s(step.durationMs)} ms`}`,
      )
      .join(', ')}`,
  );
  const error = get(boot, 'error');
  if (error !== null && error !== undefined)
    row('boot error', `${s(get(error, 'code'))}: ${s(get(error, 'message'))}`);
  const container = status.container;
  if (container !== null && container !== undefined)
    row(
      'container',
      `${s(get(container, 'name'))} ${s(get(container, 'state'))}, ${s(get(container, 'restartCount'))} restart(s), exit code ${s(get(container, 'exitCode'))}${get(container, 'oomKilled') === true ? ', OOM-killed' : ''}`,
    );
  const health = status.health;
  row(
    'health check',
    `${s(get(health, 'status'))}${get(health, 'url') ? ` ${s(get(health, 'url'))}` : ''}${get(health, 'since') ? ` since ${s(get(health, 'since'))}` : ''}${get(get(health, 'lastResult'), 'detail') ? ` (last: ${s(get(get(health, 'lastResult'), 'detail'))})` : ''}`,
  );
  const shipping = status.logShipping;
  for (const d of (get(shipping, 'destinations') ?? []) as Record<string, unknown>[])
    row(
      'logs',
      `${s(d.destination)} ${d.failing === true ? `FAILING (${s(d.lastError)})` : 'ok'}, ${s(d.delivered)} delivered, ${typeof d.sampledOut === 'number' && d.sampledOut > 0 ? `${s(d.sampledOut)} sampled out, ` : ''}${s(d.dropped)} dropped, ${s(d.rejected)} rejected, lag ${s(d.lagSeconds)} s / ${s(d.spoolBytes)} bytes`,
    );
  const etcd = status.etcd;
  if (etcd !== null && etcd !== undefined) {
    const server = get(etcd, 'server');
    const registration = get(etcd, 'registration');
    row(
      'etcd',
      `${s(get(etcd, 'domain'))}: ${
        server === null || server === undefined
          ? 'no local etcd'
          : `local ${s(get(server, 'mode'))} ${s(get(server, 'state'))}${get(server, 'lastError') ? ` (${s(get(server, 'lastError'))})` : ''}`
      }, ${
        registration === null || registration === undefined
          ? 'not registering yet'
          : get(registration, 'registered') === true
            ? `registered as ${s(get(registration, 'key'))}`
            : `not registered${get(registration, 'lastError') ? ` (${s(get(registration, 'lastError'))})` : ''}`
      }`,
    );
  }
  const agentLogDropped = get(get(shipping, 'agentLog'), 'droppedLines');
  if (typeof agentLogDropped === 'number' && agentLogDropped > 0)
    row('agent log', `${s(agentLogDropped)} lines dropped before shipping (buffer full)`);
  const endpoints = get(agent, 'endpoints');
  if (get(endpoints, 'metrics') !== undefined) row('metrics', s(get(endpoints, 'metrics')));
  const errors = (status.lastErrors ?? []) as Record<string, unknown>[];
  for (const recent of errors.slice(-5))
    row('error', `${s(recent.at)} ${s(recent.code)} (${s(recent.component)}): ${s(recent.message)}`);
  for (const warning of (status.warnings ?? []) as string[]) row('warning', warning);
  return `${lines.join('\n')}\n`;
}
