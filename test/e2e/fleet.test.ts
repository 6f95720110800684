// A small fleet in CI (issue 18): 6 real agents booted at once against one emulated account whose
// quotas are scaled by 6/1000, so each sees the pressure of a 1,000-instance boot storm and
// throttling really happens (CreateLogStream, SignalResource, PutMetricData get a burst of 1 and
// refill slower than one request per second). bench/fleet runs the same at larger N.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetImage, instanceCalls, runFleet, type FleetResult } from '../support/fleet.js';
import { env } from '../support/test-env.js';

const AGENTS = 6;
const LINES = 100;
let image: string;
let result: FleetResult;

beforeAll(async () => {
  image = await fleetImage(env.image, LINES, 'fleet');
  result = await runFleet(
    {
      agents: AGENTS,
      lines: LINES,
      bundle: fileURLToPath(new URL('../../dist/taupage.mjs', import.meta.url)),
      baseImage: env.image,
      bootTimeoutMs: 240_000,
      linesTimeoutMs: 120_000,
      label: 'fleet',
      // The stack's log group exists (deployed before): an agent must not create it.
      groupExists: true,
    },
    image,
  );
}, 480_000);

afterAll(async () => {
  await new Promise((resolve) => {
    execFile('docker', ['rmi', '-f', image], resolve);
  });
});

describe('a fleet boot storm within the account quotas (6 agents, quotas x 6/1000)', () => {
  it('boots every instance healthy and signals CloudFormation for each', () => {
    const failed = result.instances.filter((i) => !i.healthy || i.failure !== undefined);
    expect(failed.map((i) => `${i.instanceId}: ${i.failure ?? 'not healthy'}`)).toEqual([]);
    expect(result.instances.filter((i) => i.signalled).map((i) => i.instanceId)).toHaveLength(AGENTS);
  });

  it('loses no log line: every app line reaches its stream', () => {
    expect(result.lostLines).toBe(0);
    expect(result.logViolations).toEqual([]);
  });

  it('keeps each instance within its call budget', () => {
    for (const instance of result.instances) {
      const budget = {
        // No CreateLogGroup unless PutLogEvents or CreateLogStream said the group is missing.
        createLogGroup: instanceCalls(instance, 'logs:CreateLogGroup').attempts,
        // At most one Decrypt per distinct ciphertext (one here), one CreateLogStream per stream.
        decrypt: instanceCalls(instance, 'kms:Decrypt').admitted,
        createLogStream: instanceCalls(instance, 'logs:CreateLogStream').admitted,
      };
      expect({ instance: instance.instanceId, ...budget }).toEqual({
        instance: instance.instanceId,
        createLogGroup: 0,
        decrypt: 1,
        createLogStream: 1,
      });
    }
  });

  it('is throttled, and every throttled call path retried until it was admitted', () => {
    expect(result.account.throttledTotal).toBeGreaterThan(0);
    for (const [api, counters] of result.account.apis) {
      if (counters.throttled > 0)
        expect({ api, retried: counters.retried > 0 }).toEqual({ api, retried: true });
    }
    // The boot's call paths (a periodic PutMetricData throttled just before the run ends has not
    // had its turn yet, so it is not counted here).
    const bootApis = [
      'logs:CreateLogGroup',
      'logs:CreateLogStream',
      'kms:Decrypt',
      'cloudformation:SignalResource',
    ];
    const gaveUp = result.instances.flatMap((instance) =>
      bootApis
        .filter((api) => instanceCalls(instance, api).endedThrottled)
        .map((api) => `${instance.instanceId} ${api}`),
    );
    expect(gaveUp).toEqual([]);
  });
});
