import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchLogsEmulator } from '../../emulators/cloudwatch-logs-emulator.js';
import { eventually } from '../../support/test-env.js';
import { bootFinished, Campaign, userData } from './fault-harness.js';

/*
 * Fault: CloudWatch Logs unreachable (every connection reset) while the host keeps logging.
 * The scenario is 10 minutes at 1 MB/s (600 MB); here 20 MB are written as fast as the
 * agent takes them, which is the same by construction below the spool's disk bound (256 MiB,
 * docs/logs.md): what is spooled does not depend on how fast it came, and nothing is given up
 * below the bound (deliveries are retried for ever). What the user keeps: every line, delivered
 * once CloudWatch Logs is back, with the outage visible in GET /status meanwhile (failing, last
 * error, spool bytes). Drops beyond the bound (oldest segment first, counted per destination,
 * a warn line, in /status and the metrics) are covered with a small bound in
 * test/integration/logs/log-shipping-observability.test.ts; 256 MiB is too slow for CI.
 */
const campaign = new Campaign();
let logs: CloudWatchLogsEmulator;
const INSTANCE_ID = 'i-0fa17000000000001';
const GROUP = 'faults-cwl-outage';
const LINES = 200_000;

beforeAll(async () => {
  logs = await CloudWatchLogsEmulator.start({ region: 'eu-central-1' });
});
afterAll(async () => {
  await campaign.end();
  await logs.close();
});

function lines(from: number, count: number): string {
  const parts: string[] = [];
  for (let n = from; n < from + count; n++)
    parts.push(`outage line ${String(n).padStart(7, '0')} ${'y'.repeat(80)}\n`);
  return parts.join('');
}

interface Destination {
  destination: string;
  failing: boolean;
  lastError: string | null;
  spoolBytes: number;
  droppedLines: number;
}

describe('fault: CloudWatch Logs down while 20 MB are logged', () => {
  it('spools everything, shows the outage, and delivers every line once it is back', async () => {
    const instance = await campaign.instance('cwl');
    const hostFile = join(instance.dir, 'host.log');
    await writeFile(hostFile, '');
    const agent = await campaign.start(instance, {
      userData: userData(`cloudwatch_logs:\n  ${hostFile}: ${GROUP}\n`),
      args: ['--cloudwatch-logs-endpoint', logs.url],
    });
    expect((await bootFinished(agent)).boot).toMatchObject({ state: 'succeeded' });

    logs.setOutage('refuse');
    const started = Date.now();
    for (let from = 0; from < LINES; from += 20_000) await appendFile(hostFile, lines(from, 20_000));
    const destination = async (): Promise<Destination | undefined> =>
      ((await agent.status()).logShipping as { destinations: Destination[] }).destinations[0];
    const duringOutage = await eventually(
      async () => {
        const state = await destination();
        return state?.failing === true && state.spoolBytes >= LINES * 100 ? state : undefined;
      },
      'the whole outage backlog spooled and the destination failing',
      60_000,
    );
    expect(duringOutage.lastError).not.toBeNull();
    expect(logs.events(GROUP, INSTANCE_ID).length).toBe(0);

    logs.setOutage(false);
    await eventually(
      () => Promise.resolve(logs.events(GROUP, INSTANCE_ID).length >= LINES ? true : undefined),
      'every line in CloudWatch Logs',
      90_000,
    );
    const messages = logs.events(GROUP, INSTANCE_ID).map((event) => event.message);
    expect(messages.length).toBe(LINES);
    expect(new Set(messages).size).toBe(LINES);
    const after = await eventually(async () => {
      const state = await destination();
      return state?.failing === false ? state : undefined;
    }, 'the destination to recover');
    expect(after.droppedLines).toBe(0);
    expect(logs.violations).toEqual([]);
    console.log(
      `cloudwatch logs outage: ${String(LINES)} lines (${(duringOutage.spoolBytes / 2 ** 20).toFixed(1)} MiB spooled), ` +
        `all delivered ${String(Date.now() - started)} ms after the outage began; lost 0`,
    );
    await agent.stop();
    expect(await agent.exited).toBe(0);
  });
});
