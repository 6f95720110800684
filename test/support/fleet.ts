// A fleet of real agents (dist/taupage.mjs in `agent` mode) booted at once against one shared
// emulated AWS account (test/emulators/aws-account.ts). Used by bench/fleet.ts and by
// test/e2e/fleet.test.ts: each agent has its own IMDS emulator (instance id, user data), its own
// access key id (so the account can count its calls), app container, port, state directories.
// Each app prints a known set of lines before it serves /health.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { AwsAccount, type AccountEvent } from '../emulators/aws-account.js';
import { CloudFormationEmulator } from '../emulators/cloudformation-emulator.js';
import { CloudWatchEmulator } from '../emulators/cloudwatch-emulator.js';
import { CloudWatchLogsEmulator } from '../emulators/cloudwatch-logs-emulator.js';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { KmsEmulator } from '../emulators/kms-emulator.js';
import { isolatedHostPaths } from './agent-process.js';
import { agentNodePath } from '../../scripts/agent-node.mjs';

export const REGION = 'eu-central-1';
export const LOG_GROUP = 'fleet-app';
export const STACK = 'fleet-stack';
export const RESOURCE = 'AppServer';
export const LINE = (n: number): string => `fleet line ${String(n)}`;

export interface FleetOptions {
  agents: number;
  /** Lines each app prints before it serves. */
  lines: number;
  /** Quota scale (default: agents / 1000). */
  scale?: number;
  /** The agent bundle (dist/taupage.mjs of this checkout). */
  bundle: string;
  /** The image the apps run: a busybox image with httpd (test/images), tagged locally. */
  baseImage: string;
  bootTimeoutMs: number;
  /** How long to wait, after the last boot, for every line to arrive and every SUCCESS signal. */
  linesTimeoutMs: number;
  /** Names containers and dirs, so that they are recognisable (and removable). */
  label: string;
  /** The log group exists before the fleet boots (a stack deployed before); default: missing. */
  groupExists?: boolean;
  log?: (line: string) => void;
}

export interface InstanceResult {
  readonly index: number;
  readonly instanceId: string;
  readonly accessKeyId: string;
  /** spawn → "Boot completed" line, ms; undefined when the boot did not complete. */
  readonly bootMs: number | undefined;
  readonly healthy: boolean;
  readonly signalled: boolean;
  readonly failure: string | undefined;
  readonly linesArrived: number;
  readonly startedAt: number;
  /** The agent's boot steps (status JSON) and its own log lines with their times. */
  readonly steps: ReadonlyArray<{ name: string; durationMs: number; endedAt: string }>;
  readonly logLines: ReadonlyArray<{ at: number; msg: string }>;
  readonly accountEvents: readonly AccountEvent[];
}

export interface FleetResult {
  readonly agents: number;
  readonly scale: number;
  readonly account: AwsAccount;
  readonly instances: readonly InstanceResult[];
  readonly lostLines: number;
  readonly logViolations: readonly string[];
}

const docker = (...argv: string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile('docker', argv, { maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`docker ${argv.join(' ')}: ${stderr.trim() || error.message}`));
      else resolve(stdout.trim());
    });
  });

/** The app: prints `lines` known lines on stdout, then serves /health with busybox httpd. */
export async function fleetImage(baseImage: string, lines: number, label: string): Promise<string> {
  // Under the base image's registry (tagged locally, never pushed: the agent finds it present).
  const registry = baseImage.split('/')[0] ?? 'localhost';
  const ref = `${registry}/taupage-${label}/fleet-app:${String(lines)}-${randomBytes(3).toString('hex')}`;
  const script = `i=1; while [ $i -le ${String(lines)} ]; do echo "fleet line $i"; i=$((i+1)); done; exec httpd -f -p 8080 -h /www`;
  const cid = await docker('create', baseImage, 'true');
  try {
    await docker('commit', '--change', `CMD ["/bin/sh","-c",${JSON.stringify(script)}]`, cid, ref);
  } finally {
    await docker('rm', '-f', cid);
  }
  return ref;
}

/** Ports handed out to apps in this process (a port is never given twice). */
const handedOut = new Set<number>();

/**
 * A host port for an app, below the kernel's ephemeral range (32768–60999 here): a port found by
 * binding port 0 is ephemeral, and with N agents calling the emulators one of their outgoing
 * connections can take it before dockerd binds it ("address already in use", seen at N=50).
 * Checked free on 0.0.0.0, where dockerd's proxy listens.
 */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const bindable = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const server = createServer()
        .once('error', () => {
          resolve(false);
        })
        .listen(port, '0.0.0.0', () => {
          server.close(() => {
            resolve(true);
          });
        });
    });
  const start = 20_000 + Math.floor(Math.random() * 10_000);
  for (let offset = 0; offset < 2_000; offset++) {
    const port = 20_000 + ((start - 20_000 + offset) % 12_000);
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no free port below the ephemeral range for the fleet apps');
}

interface Running {
  index: number;
  instanceId: string;
  accessKeyId: string;
  container: string;
  imds: ImdsEmulator;
  dir: string;
  child: ChildProcess;
  startedAt: number;
  bootMs?: number;
  failure?: string;
  statusUrl?: string | undefined;
  logLines: Array<{ at: number; msg: string }>;
  booted: Promise<void>;
}

export async function runFleet(options: FleetOptions, image: string): Promise<FleetResult> {
  const log = options.log ?? (() => undefined);
  const scale = options.scale ?? options.agents / 1000;
  const account = new AwsAccount({ scale });
  const logs = await CloudWatchLogsEmulator.start({ region: REGION, account });
  const kms = await KmsEmulator.start({ region: REGION, account });
  const cfn = await CloudFormationEmulator.start({ region: REGION, account });
  const cloudwatch = await CloudWatchEmulator.start({ region: REGION, account });
  cfn.expectSignal(STACK, RESOURCE);
  if (options.groupExists === true) logs.createLogGroup(LOG_GROUP);
  // One ciphertext for the whole fleet: a stack's instances share their user data.
  const secret = kms.encryptForTest('fleet-secret');
  const running: Running[] = [];
  const run = randomBytes(3).toString('hex'); // container names unique to this run
  try {
    const prepared = [];
    for (let index = 0; index < options.agents; index++) {
      const instanceId = `i-0f1ee7${String(index).padStart(11, '0')}`;
      const port = await freePort();
      const userData = [
        '#taupage-ami-config',
        'runtime: Docker',
        `source: ${image}`,
        'application_id: fleet',
        'application_version: "1.0"',
        'environment:',
        `  DB_PASSWORD: "${secret}"`,
        'ports:',
        `  ${String(port)}: 8080`,
        'health_check_path: /health',
        'enhanced_cloudwatch_metrics: true',
        'notify_cfn:',
        `  stack: ${STACK}`,
        `  resource: ${RESOURCE}`,
        'cloudwatch_logs:',
        `  /var/log/application.log: ${LOG_GROUP}`,
        '',
      ].join('\n');
      const imds = await ImdsEmulator.start({
        userData,
        identity: { region: REGION, instanceId },
        account,
      });
      const dir = await mkdtemp(join(tmpdir(), `taupage-${options.label}-`));
      prepared.push({ index, instanceId, imds, dir, port });
    }
    log(
      `fleet: ${String(options.agents)} agents prepared, quotas scaled by ${String(scale)}; starting all at once`,
    );
    for (const { index, instanceId, imds, dir } of prepared) {
      const accessKeyId = `AKIDFLEET${String(index).padStart(6, '0')}`;
      const container = `taupage-${options.label}-${run}-${String(index)}`;
      const argv = [
        options.bundle,
        'agent',
        ...['--imds-url', imds.url, '--kms-endpoint', kms.url],
        ...['--cloudformation-endpoint', cfn.url, '--cloudwatch-logs-endpoint', logs.url],
        ...['--cloudwatch-endpoint', cloudwatch.url, '--status-listen', '127.0.0.1:0'],
        ...['--meta-dir', join(dir, 'meta'), '--defaults', '/nonexistent', '--container-name', container],
      ];
      const startedAt = performance.now();
      const child = spawn(agentNodePath(), argv, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          ...isolatedHostPaths(),
          AWS_ACCESS_KEY_ID: accessKeyId,
          AWS_SECRET_ACCESS_KEY: 'x',
          AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
          AWS_CONFIG_FILE: '/nonexistent',
        },
      });
      const r: Running = {
        index,
        instanceId,
        accessKeyId,
        container,
        imds,
        dir,
        child,
        startedAt,
        logLines: [],
        booted: Promise.resolve(),
      };
      const stderrTail: string[] = [];
      createInterface({ input: child.stderr }).on('line', (line) => {
        stderrTail.push(line);
        if (stderrTail.length > 20) stderrTail.shift();
      });
      r.booted = new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          r.failure ??= `no "Boot completed" within ${String(options.bootTimeoutMs)} ms`;
          resolve();
        }, options.bootTimeoutMs);
        child.once('exit', (code) => {
          r.failure ??= `exited (${String(code ?? 'signal')}) before boot completed: ${stderrTail.slice(-3).join(' | ')}`;
          clearTimeout(timer);
          resolve();
        });
        createInterface({ input: child.stdout }).on('line', (line) => {
          const at = performance.now();
          let record: { msg?: string; url?: string } = {};
          try {
            record = JSON.parse(line) as typeof record;
          } catch {
            return;
          }
          if (typeof record.msg !== 'string') return;
          r.logLines.push({ at: at - startedAt, msg: record.msg.slice(0, 140) });
          if (record.msg === 'Status endpoint listening') r.statusUrl = record.url;
          if (
            record.msg.startsWith('Boot completed in') &&
            r.bootMs === undefined &&
            r.failure === undefined
          ) {
            r.bootMs = at - startedAt;
            clearTimeout(timer);
            resolve();
          }
        });
      });
      running.push(r);
    }
    await Promise.all(running.map((r) => r.booted));
    log(`fleet: boots ended (${String(running.filter((r) => r.bootMs !== undefined).length)} completed)`);

    // Every line of every app, within the deadline.
    const deadline = Date.now() + options.linesTimeoutMs;
    const arrived = (r: Running): number => {
      const want = new Set<string>();
      for (let n = 1; n <= options.lines; n++) want.add(LINE(n));
      let count = 0;
      for (const event of logs.events(LOG_GROUP, r.instanceId)) if (want.delete(event.message)) count++;
      return count;
    };
    // The SUCCESS signal goes on beside the after-boot work (retried through throttling), so the
    // run also waits for every instance's signal within the same deadline.
    const signalledAt = (r: Running): boolean =>
      cfn.signals.some((s) => s.uniqueId === r.instanceId && s.status === 'SUCCESS');
    while (
      Date.now() < deadline &&
      running.some((r) => arrived(r) < options.lines || (r.bootMs !== undefined && !signalledAt(r)))
    ) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }

    const instances: InstanceResult[] = [];
    for (const r of running) {
      let healthy = false;
      let steps: InstanceResult['steps'] = [];
      if (r.statusUrl !== undefined) {
        try {
          const status = (await (await fetch(r.statusUrl)).json()) as {
            boot: { state: string; steps: Array<{ name: string; durationMs: number; endedAt: string }> };
          };
          healthy = status.boot.state === 'succeeded';
          steps = status.boot.steps;
        } catch {
          healthy = false;
        }
      }
      instances.push({
        index: r.index,
        instanceId: r.instanceId,
        accessKeyId: r.accessKeyId,
        bootMs: r.bootMs,
        healthy,
        signalled: signalledAt(r),
        failure: r.failure,
        linesArrived: arrived(r),
        startedAt: r.startedAt,
        steps,
        logLines: r.logLines,
        accountEvents: account.events.get(r.accessKeyId) ?? [],
      });
    }
    const lostLines = instances.reduce((sum, i) => sum + (options.lines - i.linesArrived), 0);
    return {
      agents: options.agents,
      scale,
      account,
      instances,
      lostLines,
      logViolations: [...logs.violations],
    };
  } finally {
    await Promise.all(running.map((r) => stopChild(r.child)));
    await Promise.all(running.map((r) => docker('rm', '-f', r.container).catch(() => '')));
    await Promise.all(running.map((r) => r.imds.close()));
    await Promise.all(running.map((r) => rm(r.dir, { recursive: true, force: true })));
    await Promise.all([logs.close(), kms.close(), cfn.close(), cloudwatch.close()]);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** One instance's calls of `api`: all attempts, and those the quota admitted. */
export function instanceCalls(
  instance: InstanceResult,
  api: string,
): { attempts: number; admitted: number; throttled: number; endedThrottled: boolean } {
  const events = instance.accountEvents.filter((e) => e.api === api);
  const admitted = events.filter((e) => !e.throttled).length;
  const last = events.at(-1);
  return {
    attempts: events.length,
    admitted,
    throttled: events.length - admitted,
    endedThrottled: last?.throttled === true,
  };
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

export const BUDGET_APIS = ['logs:CreateLogGroup', 'logs:CreateLogStream', 'kms:Decrypt'] as const;

/** Average calls of `api` per instance (by each agent's access key id). */
export function callsPerInstance(result: FleetResult, api: string): number {
  const total = result.instances.reduce((sum, i) => sum + result.account.callsBy(i.accessKeyId, api), 0);
  return total / Math.max(1, result.instances.length);
}

export function summaryLine(result: FleetResult, loneBootMs: number): string {
  const n = result.agents;
  const healthy = result.instances.filter((i) => i.healthy).length;
  const signalled = result.instances.filter((i) => i.signalled).length;
  const failed = result.instances.filter((i) => i.failure !== undefined || !i.healthy).length;
  const boots = result.instances.flatMap((i) => (i.bootMs === undefined ? [] : [i.bootMs]));
  const p99 = percentile(boots, 99) / 1000;
  const per = (api: string): string => callsPerInstance(result, api).toFixed(2);
  return (
    `fleet: ${String(healthy)}/${String(n)} healthy, ${String(signalled)}/${String(n)} signalled, ` +
    `failed boots ${String(failed)}, lost log lines ${String(result.lostLines)}, ` +
    `p99 boot ${p99.toFixed(1)} s (lone boot ${(loneBootMs / 1000).toFixed(1)} s), ` +
    `throttled requests ${String(result.account.throttledTotal)}, calls per instance: ` +
    `CreateLogGroup ${per('logs:CreateLogGroup')}, CreateLogStream ${per('logs:CreateLogStream')}, ` +
    `KMS Decrypt ${per('kms:Decrypt')}`
  );
}
