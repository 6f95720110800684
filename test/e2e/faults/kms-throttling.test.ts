import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsEmulator } from '../../emulators/kms-emulator.js';
import { bootFinished, Campaign, containersNamed, userData } from './fault-harness.js';

/*
 * Fault: KMS throttles every Decrypt for 30 s from the moment the agent starts (a fleet scaling
 * out shares the account's quota). What the user keeps: the boot completes, in-process, with the
 * secret in the app's environment and nowhere else. Before issue 15 the kms retry policy gave up
 * after 6 attempts (~6 s) with SECRET_UNAVAILABLE, exit 4, and systemd restarted the whole boot.
 * Real time, not shortened: there is no setting for the KMS budget, and a shorter outage would
 * not have failed the old policy either.
 */
const campaign = new Campaign();
let kms: KmsEmulator;
const THROTTLED_MS = 30_000;

beforeAll(async () => {
  kms = await KmsEmulator.start({ region: 'eu-central-1' });
});
afterAll(async () => {
  await campaign.end();
  await kms.close();
});

describe('fault: KMS throttling for 30 s at boot', () => {
  it('the boot completes once KMS answers again, without a restart', async () => {
    const secret = `throttled-${Date.now()}`;
    const instance = await campaign.instance('kms');
    kms.throttleFor(THROTTLED_MS);
    const startedAt = Date.now();
    const agent = await campaign.start(instance, {
      userData: userData(`environment:\n  DB_PASSWORD: "${kms.encryptForTest(secret)}"\n`),
      args: ['--kms-endpoint', kms.url],
    });
    const status = await bootFinished(agent, 120_000);
    expect(status.boot).toMatchObject({ state: 'succeeded', error: null });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(THROTTLED_MS);
    expect(kms.decryptCalls).toBeGreaterThan(6);
    const [container] = await containersNamed(campaign.docker, instance.containerName);
    const inspect = await campaign.docker.getContainer(container?.Id ?? '').inspect();
    expect(inspect.Config.Env).toContain(`DB_PASSWORD=${secret}`);
    expect(agent.logLines.filter((line) => line.msg === 'Retrying KMS decrypt').length).toBeGreaterThan(5);
    expect(agent.output).not.toContain(secret);
    await agent.stop();
    expect(await agent.exited).toBe(0);
  });
});
