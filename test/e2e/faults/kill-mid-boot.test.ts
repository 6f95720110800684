import { afterAll, describe, expect, it } from 'vitest';
import {
  bootFinished,
  Campaign,
  containersNamed,
  DockerHoldProxy,
  testDockerSocket,
  userData,
} from './fault-harness.js';

/*
 * Fault: kill -9 of the agent while it waits for Docker to answer a pull, or a container create.
 * Docker did (or is doing) the work; the agent never heard. What the user keeps: the next start
 * converges to exactly one app container, running, from this config.
 */
const campaign = new Campaign();
afterAll(() => campaign.end());

describe('fault: kill -9 of the agent mid-boot', () => {
  it.each([
    ['mid-pull', /^POST (\/v[\d.]+)?\/images\/create$/],
    ['mid-create', /^POST (\/v[\d.]+)?\/containers\/create$/],
  ])('%s: the next start converges to one running container', async (_label, request) => {
    const instance = await campaign.instance('kill');
    const proxy = await DockerHoldProxy.start(instance.dir, testDockerSocket());
    campaign.closers.push(() => proxy.close());
    proxy.hold(request);
    const config = userData('', await campaign.uniqueImage());
    const first = await campaign.start(instance, {
      userData: config,
      env: { DOCKER_HOST: proxy.dockerHost },
    });
    await proxy.held().catch((error: unknown) => {
      throw new Error(`${String(error)}\n${proxy.requests.join('\n')}\n${first.output}`);
    });
    first.signal('SIGKILL');
    expect(await first.exited).toBeNull();
    proxy.release();

    const second = await campaign.start(instance, { userData: config });
    const status = await bootFinished(second);
    expect(status.boot).toMatchObject({ state: 'succeeded' });
    const containers = await containersNamed(campaign.docker, instance.containerName);
    expect(containers).toHaveLength(1);
    expect(containers[0]?.State).toBe('running');
    // Mid-create, Docker had made the container: the second agent starts it, creates none.
    const steps = (status.boot as { steps: { name: string; detail: string | null }[] }).steps;
    expect(steps.find((step) => step.name === 'container')?.detail).toMatch(
      _label === 'mid-create' ? /^started existing container/ : /^created and started/,
    );
    await second.stop();
    expect(await second.exited).toBe(0);
  });
});
