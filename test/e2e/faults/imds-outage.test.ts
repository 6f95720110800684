import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchLogsEmulator } from '../../emulators/cloudwatch-logs-emulator.js';
import { ImdsEmulator } from '../../emulators/imds-emulator.js';
import { eventually } from '../../support/test-env.js';
import { bootFinished, Campaign, userData } from './fault-harness.js';

/*
 * Fault: IMDS unreachable (every connection reset) after the boot. The agent's AWS credentials
 * come from IMDS here, as on EC2 (the instance role; no AWS_* keys in its environment). What the
 * user keeps: the agent and the app keep running, the termination-notice polls are retried
 * (every second here) and the outage shows in GET /status (lastErrors) and the log, log lines
 * written meanwhile are all delivered (the role's credentials are cached: they expire in 6 h,
 * so no refresh falls into the outage), and the polls recover by themselves.
 * 30 s instead of the 2 minutes: the behaviour does not depend on the length (a failed
 * poll is logged once and retried at the next tick; credentials are good for hours), and CI time is short.
 */
const campaign = new Campaign();
let logs: CloudWatchLogsEmulator;
const INSTANCE_ID = 'i-0fa17000000000001';
const GROUP = 'faults-imds-outage';
const OUTAGE_MS = 30_000;

beforeAll(async () => {
  logs = await CloudWatchLogsEmulator.start({ region: 'eu-central-1' });
});
afterAll(async () => {
  await campaign.end();
  await logs.close();
});

describe('fault: IMDS unreachable after the boot', () => {
  it('keeps running and shipping, shows the outage, and recovers by itself', async () => {
    const instance = await campaign.instance('imds');
    const hostFile = join(instance.dir, 'host.log');
    await writeFile(hostFile, 'before the outage\n');
    const config = userData(`cloudwatch_logs:\n  ${hostFile}: ${GROUP}\n`);
    const imds = await ImdsEmulator.start({
      userData: config,
      identity: { region: 'eu-central-1', instanceId: INSTANCE_ID },
      instanceRole: {
        name: 'faults-role',
        accessKeyId: 'ASIAFAULTSROLE',
        secretAccessKey: 'faults-role-secret',
        token: 'faults-role-token',
      },
    });
    campaign.imds.push(imds);
    const agent = await campaign.start(instance, {
      userData: config,
      imds,
      args: ['--cloudwatch-logs-endpoint', logs.url, '--lifecycle-poll', '1'],
      // The SDK's credential chain ends at IMDS, like on EC2.
      env: {
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url,
      },
    });
    expect((await bootFinished(agent)).boot).toMatchObject({ state: 'succeeded' });
    const messages = () => logs.events(GROUP, INSTANCE_ID).map((event) => event.message);
    await eventually(() => Promise.resolve(messages().length === 1 ? true : undefined), 'the first line');

    imds.unreachable(true);
    const outageStarted = Date.now();
    const written: string[] = [];
    for (let n = 0; n < 30; n++) written.push(`during the outage ${String(n)}`);
    await appendFile(hostFile, `${written.join('\n')}\n`);
    await eventually(async () => {
      const status = await agent.status();
      const errors = status.lastErrors as { component: string }[];
      return errors.some((error) => error.component === 'imds') ? true : undefined;
    }, 'the IMDS outage in GET /status');
    await eventually(
      () => Promise.resolve(messages().length === 31 ? true : undefined),
      'the lines of the outage',
    );
    const polled = imds.requests.length;
    await eventually(
      () =>
        Promise.resolve(
          Date.now() - outageStarted >= OUTAGE_MS && imds.requests.length > polled ? true : undefined,
        ),
      'the outage to last and the polls to go on',
      OUTAGE_MS + 10_000,
    );
    imds.unreachable(false);
    await eventually(
      () =>
        Promise.resolve(
          agent.logLines.some((line) => line.msg === 'IMDS answers the lifecycle polls again')
            ? true
            : undefined,
        ),
      'the polls to recover',
    );
    expect(messages()).toEqual(['before the outage', ...written]);
    expect(
      agent.logLines.filter((line) => line.msg === 'Could not poll IMDS for termination notices'),
    ).toHaveLength(1);
    const status = await agent.status();
    expect(status.boot).toMatchObject({ state: 'succeeded' });
    await agent.stop();
    expect(await agent.exited).toBe(0);
  });
});
