import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElbEmulator } from '../../emulators/elb-emulator.js';
import { ImdsEmulator } from '../../emulators/imds-emulator.js';
import { KmsEmulator } from '../../emulators/kms-emulator.js';
import type { AgentProcess } from '../../support/agent-process.js';
import { eventually, freePort } from '../../support/test-env.js';
import {
  bootSteps,
  Campaign,
  containersNamed,
  DockerHoldProxy,
  testDockerSocket,
  userData,
  type Instance,
} from './fault-harness.js';

/*
 * Fault: SIGTERM (systemctl stop, a host shutdown) while the boot is in each step that can take
 * a while. What the user keeps: a clean stop (exit 0, "Stopped" logged, no stack trace) well
 * inside systemd's TimeoutStopSec (45 s), and no half-made app (no container before the
 * container step). The config and host steps take milliseconds here (app-only host scope)
 * and cannot be caught running; the abort signal they get is the one the others honour.
 */
const campaign = new Campaign();
let kms: KmsEmulator;
let elb: ElbEmulator;
const INSTANCE_ID = 'i-0fa17000000000001';
/** What "bounded" means here: the agent's own stop deadline is 30 s + the app's stop timeout. */
const STOP_BOUND_MS = 10_000;

beforeAll(async () => {
  kms = await KmsEmulator.start({ region: 'eu-central-1' });
  elb = await ElbEmulator.start({ region: 'eu-central-1' });
});
afterAll(async () => {
  await campaign.end();
  await kms.close();
  await elb.close();
});

interface Case {
  readonly step: string;
  /** Makes the step take long; returns the config and agent options. */
  readonly arrange: (instance: Instance) => Promise<{
    config: string;
    env?: Record<string, string>;
    args?: string[];
    imds?: ImdsEmulator;
  }>;
}

const cases: Case[] = [
  {
    step: 'imds',
    arrange: async () => {
      const config = userData('');
      const imds = await ImdsEmulator.start({
        userData: config,
        identity: { region: 'eu-central-1', instanceId: INSTANCE_ID },
      });
      campaign.imds.push(imds);
      imds.unavailable(100_000);
      return { config, imds };
    },
  },
  {
    step: 'kms',
    arrange: () => {
      kms.decryptDelayMs = 120_000;
      return Promise.resolve({
        config: userData(`environment:\n  SECRET: "${kms.encryptForTest('sigterm-kms-secret')}"\n`),
      });
    },
  },
  {
    step: 'pull',
    arrange: async (instance) => {
      const proxy = await DockerHoldProxy.start(instance.dir, testDockerSocket());
      campaign.closers.push(() => proxy.close());
      proxy.hold(/^POST (\/v[\d.]+)?\/images\/create$/);
      return { config: userData('', await campaign.uniqueImage()), env: { DOCKER_HOST: proxy.dockerHost } };
    },
  },
  {
    step: 'container',
    arrange: async (instance) => {
      const proxy = await DockerHoldProxy.start(instance.dir, testDockerSocket());
      campaign.closers.push(() => proxy.close());
      proxy.hold(/^POST (\/v[\d.]+)?\/containers\/create$/);
      return { config: userData(''), env: { DOCKER_HOST: proxy.dockerHost } };
    },
  },
  {
    step: 'health',
    arrange: async () => {
      const port = await freePort();
      return {
        config: userData(
          `ports:\n  ${port}: 8080\nhealth_check_path: /no-such-path\nhealth_check_port: ${port}\nhealth_check_timeout_seconds: 600\n`,
        ),
      };
    },
  },
  {
    step: 'loadbalancer',
    arrange: () => {
      elb.classicInstance('faults-lb', INSTANCE_ID, ['OutOfService']);
      return Promise.resolve({
        config: userData('healthcheck:\n  type: elb\n  loadbalancer_name: faults-lb\n'),
        args: ['--elb-endpoint', elb.url],
      });
    },
  },
];

async function stepRunning(agent: AgentProcess, step: string): Promise<void> {
  await eventually(
    async () =>
      (await bootSteps(agent)).find((s) => s.name === step)?.outcome === 'running' ? true : undefined,
    `the ${step} step to be running`,
    30_000,
  );
}

describe('fault: SIGTERM during each boot step', () => {
  it.each(cases.map((c) => [c.step, c] as const))(
    'during %s: exit 0 within 10 s, no stack trace, no half-made app',
    async (step, testCase) => {
      const instance = await campaign.instance(`term-${step}`);
      const arranged = await testCase.arrange(instance);
      const agent = await campaign.start(instance, {
        userData: arranged.config,
        args: ['--kms-endpoint', kms.url, ...(arranged.args ?? [])],
        ...(arranged.env === undefined ? {} : { env: arranged.env }),
        ...(arranged.imds === undefined ? {} : { imds: arranged.imds }),
      });
      try {
        await stepRunning(agent, step);
        const signalledAt = Date.now();
        agent.signal('SIGTERM');
        const code = await agent.exited;
        const tookMs = Date.now() - signalledAt;
        expect({ code, tookMs: tookMs < STOP_BOUND_MS ? 'bounded' : tookMs }).toEqual({
          code: 0,
          tookMs: 'bounded',
        });
        const messages = agent.logLines.map((line) => line.msg);
        expect(messages).toContain('Boot interrupted by shutdown');
        expect(messages.at(-1)).toBe('Stopped');
        expect(messages.filter((msg) => typeof msg === 'string' && msg.startsWith('Boot failed'))).toEqual(
          [],
        );
        expect(agent.output).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack trace anywhere
        expect(agent.output).not.toContain('sigterm-kms-secret');
        const containers = await containersNamed(campaign.docker, instance.containerName);
        if (['imds', 'kms', 'pull'].includes(step)) expect(containers).toEqual([]);
        // Later steps leave the app as an agent restart would find it: one container, adopted then.
        else expect(containers.length).toBeLessThanOrEqual(1);
      } finally {
        kms.decryptDelayMs = 0;
      }
    },
  );
});
