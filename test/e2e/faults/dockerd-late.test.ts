import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startPrivateDockerd, type PrivateDockerd } from '../../../bench/private-dockerd.js';
import { eventually } from '../../support/test-env.js';
import { bootFinished, Campaign, containersNamed, userData } from './fault-harness.js';

/*
 * Fault: dockerd is not up yet when the agent starts (its socket does not even exist). What the
 * user keeps: the agent waits, with backoff and a bound (DOCKER_WAIT_POLICY: 2 minutes), and
 * boots as soon as the engine answers. Before issue 15 the first Docker call failed the boot
 * with DOCKER_UNAVAILABLE, exit 4, and only systemd's restart got past it.
 * A private dockerd on its own socket and directories (bench/private-dockerd.ts): the shared test
 * dockerd is never stopped. It has no bridge network, so the app runs with `networking: none`.
 */
const campaign = new Campaign();
let dockerd: PrivateDockerd | undefined;
let dir: string | undefined;

afterAll(async () => {
  await campaign.end();
  await dockerd?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('fault: dockerd not up yet when the agent starts', () => {
  it('waits with backoff and boots when the engine appears', async () => {
    dir = await mkdtemp(join('/var/tmp', 'tf-late-'));
    const socketPath = join(dir, 'docker.sock');
    const instance = await campaign.instance('late');
    const agent = await campaign.start(instance, {
      userData: userData('networking: none\n'),
      env: { DOCKER_HOST: `unix://${socketPath}` },
    });
    const waits = () =>
      agent.logLines.filter((line) => line.msg === 'Docker engine not answering yet, waiting');
    await eventually(
      () => Promise.resolve(waits().length >= 3 ? true : undefined),
      'the agent to wait for dockerd',
    );
    const delays = waits().map((line) => line.delayMs as number);
    expect(delays.every((delay) => delay >= 0 && delay <= 5_000)).toBe(true);

    dockerd = await startPrivateDockerd({ parent: dir, env: {}, socketPath });
    const status = await bootFinished(agent, 90_000);
    expect(status.boot).toMatchObject({ state: 'succeeded', error: null });
    const containers = await containersNamed(dockerd.docker, instance.containerName);
    expect(containers.map((container) => container.State)).toEqual(['running']);
    await agent.stop();
    expect(await agent.exited).toBe(0);
  });
});
