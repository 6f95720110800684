import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateDockerd, type PrivateDockerd } from '../../../bench/private-dockerd.js';
import { CloudWatchLogsEmulator } from '../../emulators/cloudwatch-logs-emulator.js';
import { eventually } from '../../support/test-env.js';
import { bootFinished, Campaign, containersNamed, userData } from './fault-harness.js';

/*
 * Fault: dockerd restarted under a running app (`systemctl restart docker`, an engine upgrade),
 * with the AMI's daemon settings (ami/15-docker.sh: live-restore, json-file). A private dockerd
 * on its own socket and directories; the shared test dockerd is never restarted. The app prints
 * a numbered line every 50 ms. What the user keeps: the app (same container, running), the
 * agent (no restart), and log shipping: it resumes after the restart and every line written
 * before it is delivered, none twice.
 * Not covered here: the HTTP health re-check (the private dockerd has no bridge network, so the
 * app runs with `networking: none`; continuous health is issue 15 item 1).
 */
const campaign = new Campaign();
let dockerd: PrivateDockerd | undefined;
let parent: string | undefined;
let logs: CloudWatchLogsEmulator;
const INSTANCE_ID = 'i-0fa17000000000001';
const GROUP = 'faults-dockerd-restart';

beforeAll(async () => {
  logs = await CloudWatchLogsEmulator.start({ region: 'eu-central-1' });
});
afterAll(async () => {
  await campaign.end();
  await dockerd?.stop();
  if (parent !== undefined) await rm(parent, { recursive: true, force: true });
  await logs.close();
});

/** The tick numbers delivered so far, in arrival order. */
function ticks(): number[] {
  return logs
    .events(GROUP, INSTANCE_ID)
    .map((event) => /^tick (\d+)$/.exec(event.message)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
}

describe('fault: dockerd restarted under a running app', () => {
  it('keeps the app, resumes log shipping and delivers every line written before the restart', async () => {
    const image = await campaign.uniqueImage(
      'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.05; done',
    );
    parent = await mkdtemp(join('/var/tmp', 'tf-restart-'));
    dockerd = await startPrivateDockerd({
      parent,
      env: {},
      flags: ['--live-restore', '--log-driver=json-file'],
    });
    const instance = await campaign.instance('restart');
    const agent = await campaign.start(instance, {
      userData: userData(`networking: none\ncloudwatch_logs:\n  /var/log/application.log: ${GROUP}\n`, image),
      args: ['--cloudwatch-logs-endpoint', logs.url],
      env: { DOCKER_HOST: `unix://${join(dockerd.dir, 'docker.sock')}` },
    });
    expect((await bootFinished(agent, 90_000)).boot).toMatchObject({ state: 'succeeded' });
    await eventually(
      () => Promise.resolve(ticks().length >= 20 ? true : undefined),
      'the first ticks',
      30_000,
    );
    const [before] = await containersNamed(dockerd.docker, instance.containerName);

    await dockerd.restart();
    const restartedAt = Date.now();
    // The app wrote this tick at the latest before the restart was over.
    const [after] = await containersNamed(dockerd.docker, instance.containerName);
    expect(after?.Id).toBe(before?.Id);
    expect(after?.State).toBe('running');
    const lastBefore = Math.max(...ticks());

    // Shipping resumes: lines the app writes after the restart arrive.
    await eventually(
      () => Promise.resolve(ticks().some((n) => n > lastBefore + 40) ? true : undefined),
      'lines written after the restart in CloudWatch Logs',
      60_000,
    );
    const delivered = ticks();
    const highest = Math.max(...delivered);
    const missing: number[] = [];
    const seen = new Set(delivered);
    for (let n = 0; n <= highest; n++) if (!seen.has(n)) missing.push(n);
    console.log(
      `dockerd restart: ${String(highest + 1)} ticks, ${String(missing.length)} missing ` +
        `(${missing.slice(0, 10).join(',')}), ${String(delivered.length - seen.size)} duplicates; ` +
        `shipping resumed ${String(Date.now() - restartedAt)} ms after dockerd answered again`,
    );
    expect(missing).toEqual([]);
    // The agent follows the app again after the restart (its Docker event stream reconnected).
    const status = await agent.status();
    expect(status.container).toMatchObject({ state: 'running' });
    expect(delivered.length).toBe(seen.size);
    expect(
      agent.logLines.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('Boot failed')),
    ).toEqual([]);
    await agent.stop();
    expect(await agent.exited).toBe(0);
  });
});
