import { spawnSync } from 'node:child_process';
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchLogsEmulator } from '../../emulators/cloudwatch-logs-emulator.js';
import { eventually } from '../../support/test-env.js';
import { bootFinished, Campaign, userData } from './fault-harness.js';

/*
 * Fault: the disk under the log spool fills up (here a 4 MiB tmpfs mounted on the agent's log
 * state dir, filled by another file, as an app's runaway log or a core dump would) while
 * CloudWatch Logs is down, so that the spool must write what it holds. What the user keeps: the
 * agent keeps running and serving its status; lines written meanwhile wait in memory (bounded,
 * 1 MiB) and then in their source (the file tail pauses), and are all delivered once space and
 * CloudWatch Logs are back, with no restart. Lost: nothing (the drops counters stay 0). (With
 * CloudWatch Logs up the lines go from memory and the disk is not needed: docs/logs.md.)
 */
const campaign = new Campaign();
let logs: CloudWatchLogsEmulator;
const INSTANCE_ID = 'i-0fa17000000000001';
const GROUP = 'faults-disk-full';

beforeAll(async () => {
  logs = await CloudWatchLogsEmulator.start({ region: 'eu-central-1' });
});
afterAll(async () => {
  await campaign.end();
  await logs.close();
});

function lines(from: number, count: number): string {
  let text = '';
  for (let n = from; n < from + count; n++)
    text += `disk-full line ${String(n).padStart(6, '0')} ${'x'.repeat(80)}\n`;
  return text;
}

describe('fault: the log spool disk is full', () => {
  it('keeps running, holds the lines and delivers every one once space is back', async () => {
    const instance = await campaign.instance('disk');
    const mountPoint = join(instance.dir, 'logs');
    await mkdir(mountPoint, { recursive: true });
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mountPoint]);
    expect(mount.status, mount.stderr.toString()).toBe(0);
    const mounted = mountPoint;
    // Before the instance dir is removed (campaign.end runs closers first), after the agent.
    campaign.closers.push(() => {
      spawnSync('umount', ['-l', mounted]);
      return Promise.resolve();
    });
    const hostFile = join(instance.dir, 'host.log');
    await writeFile(hostFile, lines(0, 1_000));
    const agent = await campaign.start(instance, {
      userData: userData(`cloudwatch_logs:\n  ${hostFile}: ${GROUP}\n`),
      args: ['--cloudwatch-logs-endpoint', logs.url],
    });
    expect((await bootFinished(agent)).boot).toMatchObject({ state: 'succeeded' });
    const delivered = () => logs.events(GROUP, INSTANCE_ID).length;
    await eventually(
      () => Promise.resolve(delivered() === 1_000 ? true : undefined),
      'the first lines',
      30_000,
    );

    // Fill the disk with something else, take CloudWatch Logs down, then keep logging: 20,000
    // lines, 2 MB.
    const filler = join(mountPoint, 'filler');
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
    logs.setOutage('refuse');
    await appendFile(hostFile, lines(1_000, 20_000));
    await eventually(
      () =>
        Promise.resolve(
          agent.logLines.some((line) => line.msg === 'Failed to write the log spool') ? true : undefined,
        ),
      'the agent to hit the full disk',
      30_000,
    );
    const whileFull = await agent.status();
    expect(whileFull.boot).toMatchObject({ state: 'succeeded' });
    const stuckAt = delivered();
    expect(stuckAt).toBeLessThan(21_000);

    await rm(filler);
    logs.setOutage(false);
    await eventually(() => Promise.resolve(delivered() >= 21_000 ? true : undefined), 'every line', 60_000);
    const messages = logs.events(GROUP, INSTANCE_ID).map((event) => event.message);
    expect(messages).toHaveLength(21_000);
    expect(new Set(messages).size).toBe(21_000);
    const status = await agent.status();
    const shipping = status.logShipping as { destinations: { droppedLines: number }[]; lostRecords?: number };
    // CloudWatch Logs, then the host's /var/log/application.log (docs/logs.md): nothing dropped.
    expect(shipping.destinations.map((d) => d.droppedLines)).toEqual([0, 0]);
    console.log(
      `spool disk full: ${String(21_000 - stuckAt)} lines waited for space, all delivered after it came back; lost 0`,
    );
    await agent.stop();
    expect(await agent.exited).toBe(0);
  });
});
