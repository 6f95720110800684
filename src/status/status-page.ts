import type { HealthCheckResult } from './health-checks.js';

/**
 * GET / — the status document as one page for humans. Self-contained (inline CSS, no scripts,
 * no external assets: it must render on an instance without internet access and never leak a
 * request elsewhere); it reloads itself every 10 s.
 */
export function renderStatusPage(status: Record<string, unknown>): string {
  const agent = record(status.agent);
  const instance = record(status.instance);
  const application = record(status.application);
  const boot = record(status.boot);
  const container = record(status.container);
  const health = record(status.health);
  const lastProbe =
    health.lastResult === null || health.lastResult === undefined ? undefined : record(health.lastResult);
  const checks = (status.checks ?? []) as HealthCheckResult[];
  const impaired = checks.filter((check) => !check.ok);
  const steps = (boot.steps ?? []) as Record<string, unknown>[];
  const errors = (status.lastErrors ?? []) as Record<string, unknown>[];
  const warnings = (status.warnings ?? []) as string[];
  const grants = (record(status.ssh).grants ?? []) as Record<string, unknown>[];

  const overall =
    impaired.length === 0
      ? `<span class="badge ok">OK</span>`
      : `<span class="badge bad">IMPAIRED</span> ${impaired.map((check) => esc(check.detail)).join('; ')}`;

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taupage ${esc(str(application.id) || 'agent')} on ${esc(str(instance.instanceId) || 'this host')}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2329;background:#f6f7f9}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.05em;margin:1.2em 0 .4em}
section{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:.6em 1em;margin-bottom:1em}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.2em .6em .2em 0;vertical-align:top}
th{color:#5b6672;font-weight:600;width:14em}.grid th{width:auto}code,pre{font:12px/1.4 ui-monospace,monospace}
pre{white-space:pre-wrap;margin:0}.badge{padding:.1em .5em;border-radius:4px;color:#fff;font-weight:700}
.ok{background:#2e7d32}.bad{background:#c62828}.warn{background:#ef6c00}.muted{color:#5b6672}
.succeeded{color:#2e7d32}.failed{color:#c62828}.running{color:#1565c0}.skipped,.pending{color:#5b6672}
</style></head><body>
<h1>taupage — ${esc(str(application.id) || 'no application yet')} ${esc(str(application.version))}</h1>
<p>${overall}</p>
<section><h2>Agent</h2><table>
${row('version', `${str(agent.version)} (${str(agent.commit)}), ${str(agent.mode)} mode, Node.js ${str(agent.node)}`)}
${row('started', `${str(agent.startedAt)} (up ${str(agent.uptimeSeconds)} s), pid ${str(agent.pid)}`)}
${row('instance', `${str(instance.instanceId) || '—'} ${str(instance.instanceType)} in ${str(instance.availabilityZone) || str(instance.region) || '—'}, account ${str(instance.accountId) || '—'}`)}
</table></section>
<section><h2>Application</h2><table>
${row('image', str(application.image) || '—')}
${row('digest', str(application.imageDigest) || '—')}
${row('config digest', str(application.configDigest) || '—')}
${row('container', container.state === undefined ? '—' : `<span class="${esc(str(container.state))}">${esc(str(container.state))}</span> ${esc(str(container.name))} ${esc(str(container.id))}, ${esc(str(container.restartCount))} restart(s), last exit code ${esc(str(container.exitCode) || '—')}${container.oomKilled === true ? ', <b>OOM-killed</b>' : ''}`, false)}
${row('health check', healthLine(health), false)}
${row('last probe', lastProbe === undefined ? '—' : `${str(lastProbe.at)}: ${str(lastProbe.detail)}`)}
</table>
${healthTransitions(health)}</section>
<section><h2>Boot: <span class="${esc(str(boot.state))}">${esc(str(boot.state))}</span>${boot.totalMs === null || boot.totalMs === undefined ? '' : ` in ${esc(str(boot.totalMs))} ms`}</h2>
${boot.error === null || boot.error === undefined ? '' : `<p class="failed"><b>${esc(str(record(boot.error).code))}</b>: ${esc(str(record(boot.error).message))}</p>`}
<table><tr><th>step</th><th>outcome</th><th>duration</th><th>detail</th></tr>
${steps.map((step) => `<tr><td>${esc(str(step.name))}</td><td class="${esc(str(step.outcome))}">${esc(str(step.outcome))}</td><td>${step.durationMs === null || step.durationMs === undefined ? '' : `${esc(str(step.durationMs))} ms`}</td><td>${esc(str(step.detail) || str(record(step.error).message))}</td></tr>`).join('\n')}
</table></section>
<section><h2>Checks</h2><table>
${checks.map((check) => row(check.name, `<span class="badge ${check.ok ? 'ok' : 'bad'}">${check.ok ? 'ok' : 'failed'}</span> ${esc(check.detail)}`, false)).join('\n')}
</table></section>
<section><h2>Log shipping</h2>${logShippingSection(record(status.logShipping))}</section>
${status.etcd === null || status.etcd === undefined ? '' : `<section><h2>etcd</h2>${etcdSection(record(status.etcd))}</section>`}
<section><h2>SSH access</h2>${grants.length === 0 ? '<p class="muted">no active grants</p>' : `<table>${grants.map((g) => row(str(g.user), `until ${str(g.expiresAt)} ${str(g.reason)}`)).join('')}</table>`}</section>
<section><h2>Recent errors</h2>${
    errors.length === 0
      ? '<p class="muted">none</p>'
      : `<table>${errors
          .slice()
          .reverse()
          .map((e) =>
            row(
              str(e.at),
              `<b>${esc(str(e.code))}</b> (${esc(str(e.component))}) ${esc(str(e.message))}`,
              false,
            ),
          )
          .join('')}</table>`
  }</section>
${warnings.length === 0 ? '' : `<section><h2>Config warnings</h2><ul>${warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul></section>`}
<section><h2>Config (secrets redacted)</h2><pre>${esc(JSON.stringify(status.config ?? null, null, 2))}</pre></section>
<p class="muted">JSON: <a href="/status">/status</a> · liveness: <a href="/healthz">/healthz</a></p>
</body></html>
`;
}

/** Per destination: failing or not, what was delivered and lost, how far behind; then sources. */
function logShippingSection(shipping: Record<string, unknown>): string {
  const destinations = (shipping.destinations ?? []) as Record<string, unknown>[];
  const sources = (shipping.sources ?? []) as Record<string, unknown>[];
  const spool = record(shipping.spool);
  const agentLog = record(shipping.agentLog);
  const lost = (d: Record<string, unknown>): boolean => Number(d.dropped) > 0 || Number(d.rejected) > 0;
  const table =
    destinations.length === 0
      ? '<p class="muted">no destinations</p>'
      : `<table class="grid"><tr><th>destination</th><th>state</th><th>delivered</th><th>sampled out</th><th>dropped</th><th>rejected</th><th>failures</th><th>lag</th></tr>
${destinations
  .map(
    (d) =>
      `<tr><td>${esc(str(d.destination))}</td><td>${d.failing === true ? `<span class="badge bad">failing</span> ${esc(str(d.lastError))}` : '<span class="badge ok">ok</span>'}</td><td>${esc(str(d.delivered))}</td><td>${esc(str(d.sampledOut ?? 0))}</td><td${lost(d) ? ' class="failed"' : ''}>${esc(str(d.dropped))}</td><td${lost(d) ? ' class="failed"' : ''}>${esc(str(d.rejected))}</td><td>${esc(str(d.failures))}</td><td>${esc(str(d.lagSeconds))} s, ${esc(str(d.spoolBytes))} bytes</td></tr>`,
  )
  .join('\n')}</table>`;
  const details = [
    ...sources.map((source) =>
      row(
        `source ${str(source.name)}`,
        `${str(source.lines)} lines${source.via === undefined ? '' : ` (${str(source.via)})`}${source.running === true ? '' : ', stopped'}${source.lastError === undefined ? '' : `: ${str(source.lastError)}`}`,
      ),
    ),
    ...(spool.diskBytes === undefined ? [] : [row('spool', `${str(spool.diskBytes)} bytes on disk`)]),
    ...(agentLog.droppedLines === undefined
      ? []
      : [
          row(
            'agent log buffer',
            `${str(agentLog.state)}, ${str(agentLog.queuedLines)} queued, ${str(agentLog.droppedLines)} dropped`,
          ),
        ]),
  ];
  return details.length === 0 ? table : `${table}<table>${details.join('')}</table>`;
}

/** `etcd_discovery_domain`: the instance-local etcd the agent runs and the heartbeat into it. */
function etcdSection(etcd: Record<string, unknown>): string {
  const server = etcd.server === null || etcd.server === undefined ? undefined : record(etcd.server);
  const beat =
    etcd.registration === null || etcd.registration === undefined ? undefined : record(etcd.registration);
  const list = (value: unknown): string => ((value ?? []) as string[]).join(', ') || '—';
  const local =
    server === undefined
      ? 'none run by the agent'
      : `${esc(str(server.mode))} <span class="${esc(str(server.state))}">${esc(str(server.state))}</span>${server.pid === null || server.pid === undefined ? '' : `, pid ${esc(str(server.pid))}`}, listening on ${esc(list(server.listenUrls))}${server.mode === 'proxy' ? `, peers ${esc(list(server.peers))}` : ''}; ${esc(str(server.starts))} start(s), ${esc(str(server.failures))} failure(s)${server.lastError === null || server.lastError === undefined ? '' : `, last: ${esc(str(server.lastError))}`}`;
  const heartbeat =
    beat === undefined
      ? 'not started yet'
      : `${beat.registered === true ? '<span class="badge ok">registered</span>' : '<span class="badge bad">not registered</span>'} ${esc(str(beat.key))}: ${esc(str(beat.beats))} beat(s), ${esc(str(beat.skipped))} skipped (app not healthy), ${esc(str(beat.failures))} failure(s), last beat ${esc(str(beat.lastBeatAt) || '—')}${beat.lastError === null || beat.lastError === undefined ? '' : `, last error: ${esc(str(beat.lastError))}`}`;
  return `<table>${row('discovery domain', str(etcd.domain))}${row('local etcd', local, false)}${row('heartbeat', heartbeat, false)}</table>`;
}

/** State (a badge when judged), what is checked and since when. */
function healthLine(health: Record<string, unknown>): string {
  const state = str(health.status);
  const badge =
    state === 'passing'
      ? '<span class="badge ok">passing</span>'
      : state === 'failing'
        ? '<span class="badge bad">failing</span>'
        : esc(state);
  const what = [str(health.url), health.dockerHealthcheck === true ? 'Docker HEALTHCHECK' : '']
    .filter((part) => part !== '')
    .join(' + ');
  const since = str(health.since);
  return `${badge} ${esc(what)}${since === '' ? '' : ` since ${esc(since)}`}`;
}

/** The recent transitions, newest first. */
function healthTransitions(health: Record<string, unknown>): string {
  const transitions = (health.transitions ?? []) as Record<string, unknown>[];
  if (transitions.length === 0) return '';
  return `<table class="grid"><tr><th>health changed at</th><th>from</th><th>to</th><th>because</th></tr>
${transitions
  .slice()
  .reverse()
  .map(
    (t) =>
      `<tr><td>${esc(str(t.at))}</td><td>${esc(str(t.from))}</td><td class="${t.to === 'failing' ? 'failed' : 'succeeded'}">${esc(str(t.to))}</td><td>${esc(str(t.reason))}</td></tr>`,
  )
  .join('\n')}</table>`;
}

function row(label: string, value: string, escapeValue = true): string {
  return `<tr><th>${esc(label)}</th><td>${escapeValue ? esc(value) : value}</td></tr>`;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

function str(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

export function esc(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}
