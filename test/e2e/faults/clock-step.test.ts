import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchLogsEmulator } from '../../emulators/cloudwatch-logs-emulator.js';
import { ImdsEmulator } from '../../emulators/imds-emulator.js';
import { eventually } from '../../support/test-env.js';
import { bootFinished, Campaign, userData } from './fault-harness.js';

/*
 * Fault: the wall clock stepped by -1 h and then +1 h under the running agent (NTP correcting a
 * wrong clock, a VM resumed). How: test/support/clock-step-preload.mjs moves the agent's `Date`
 * by an offset read from a file; monotonic time is untouched, as on a real host. What the user
 * keeps: timers (the termination-notice polls, every second here) keep their pace; every log
 * line is delivered, with the wall-clock timestamp it was written at, and CloudWatch Logs
 * accepts every batch (events are sorted per batch, so lines on both sides of a backward step
 * go in one valid request). Before the fix, every node-cron schedule (termination-notice polls,
 * credentials refresh, CloudWatch metrics) stalled for the hour after the step back.
 * Not covered: SSH grant expiry (absolute wall-clock times by design: they survive agent
 * restarts, so a step moves them with it).
 */
const campaign = new Campaign();
let logs: CloudWatchLogsEmulator;
const INSTANCE_ID = 'i-0fa17000000000001';
const GROUP = 'faults-clock-step';
const HOUR = 3_600_000;
const PRELOAD = fileURLToPath(new URL('../../support/clock-step-preload.mjs', import.meta.url));

beforeAll(async () => {
  logs = await CloudWatchLogsEmulator.start({ region: 'eu-central-1' });
});
afterAll(async () => {
  await campaign.end();
  await logs.close();
});

describe('fault: the wall clock stepped by ±1 h', () => {
  it('keeps timers on pace and delivers every line with its wall-clock time', async () => {
    const instance = await campaign.instance('clock');
    const hostFile = join(instance.dir, 'host.log');
    const offsetFile = join(instance.dir, 'clock-offset');
    await writeFile(offsetFile, '0');
    await writeFile(hostFile, 'line before\n');
    const config = userData(`cloudwatch_logs:\n  ${hostFile}: ${GROUP}\n`);
    const imds = await ImdsEmulator.start({
      userData: config,
      identity: { region: 'eu-central-1', instanceId: INSTANCE_ID },
    });
    campaign.imds.push(imds);
    const agent = await campaign.start(instance, {
      userData: config,
      imds,
      args: ['--cloudwatch-logs-endpoint', logs.url, '--lifecycle-poll', '1'],
      env: { NODE_OPTIONS: `--import=${PRELOAD}`, TAUPAGE_TEST_CLOCK_OFFSET_FILE: offsetFile },
    });
    expect((await bootFinished(agent)).boot).toMatchObject({ state: 'succeeded' });
    const events = () => logs.events(GROUP, INSTANCE_ID);
    await eventually(() => Promise.resolve(events().length === 1 ? true : undefined), 'the first line');

    const polls = () =>
      imds.requests.filter((request) => request.path.includes('spot/instance-action')).length;
    for (const [step, label] of [
      [-HOUR, 'back'],
      [0, 'forward'],
    ] as const) {
      await writeFile(offsetFile, String(step));
      // Probe lines until one ships with the stepped time: the step has applied in the agent.
      let probes = 0;
      await eventually(async () => {
        await appendFile(hostFile, `probe ${label} ${String(probes++)}\n`);
        const stepped = events().some(
          (e) =>
            e.message.startsWith(`probe ${label} `) && Math.abs(e.timestamp - (Date.now() + step)) < 60_000,
        );
        return stepped ? true : undefined;
      }, `the step ${label} to apply in the agent`);
      const before = polls();
      const writtenAt = Date.now();
      await appendFile(hostFile, `line after the step ${label}\n`);
      await eventually(
        () =>
          Promise.resolve(
            events().some((e) => e.message === `line after the step ${label}`) ? true : undefined,
          ),
        `the line after the step ${label}`,
      );
      const shipped = events().find((e) => e.message === `line after the step ${label}`);
      expect(Math.abs((shipped?.timestamp ?? 0) - (writtenAt + step))).toBeLessThan(5_000);
      // Timers run on monotonic time: ~1 poll a second whatever the wall clock did.
      await eventually(
        () => Promise.resolve(polls() >= before + 3 ? true : undefined),
        `polls after the step ${label}`,
        10_000,
      );
    }
    const messages = events()
      .map((e) => e.message)
      .filter((message) => !message.startsWith('probe '));
    expect(messages).toEqual(['line before', 'line after the step back', 'line after the step forward']);
    expect(logs.violations).toEqual([]);
    const status = await agent.status();
    const shipping = status.logShipping as { destinations: { droppedLines: number; failing: boolean }[] };
    // The remote destination, then the host's /var/log/application.log (docs/logs.md).
    expect(shipping.destinations).toEqual([
      expect.objectContaining({ droppedLines: 0, failing: false }),
      expect.objectContaining({ destination: 'application-log', droppedLines: 0, failing: false }),
    ]);
    await agent.stop();
    expect(await agent.exited).toBe(0);
  });
});
