// Retry-mode benchmark (run through bench/retry-modes): what a boot storm does to each way of
// retrying throttling. N clients (one per "instance", each its own SDK client, as N agents would
// be) call ECR GetAuthorizationToken at the same moment through a token bucket of R requests per
// second in front of the ECR emulator (test/support/throttling-proxy.ts): the account quota of a
// 1,000-instance fleet scaled by N/1000 (CreateLogStream's 50 TPS → R = 5 for N = 100).
//
// Compared, in this order, in one process:
//   sdk-standard-3    the SDK's default: retryMode "standard", maxAttempts 3
//   sdk-standard-10   retryMode "standard", maxAttempts 10
//   sdk-adaptive-10   retryMode "adaptive" (client-side token bucket), maxAttempts 10
//   taupage           maxAttempts 1 + core/retry with ECR_TOKEN_RETRY (the adapter itself)
// Reported per mode: clients that got a token, requests sent, throttled answers, and the time
// from the start to each client's token (p50, p99, max).
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { systemClock } from '../src/core/clock.js';
import { AwsEcrTokenSource } from '../src/docker/aws-ecr-token-source.js';
import { EcrEmulator } from '../test/emulators/ecr-emulator.js';
import { ThrottlingProxy } from '../test/support/throttling-proxy.js';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '100' },
    rate: { type: 'string', default: '5' },
    modes: { type: 'string', default: 'sdk-standard-3,sdk-standard-10,sdk-adaptive-10,taupage' },
  },
});
const CLIENTS = Number(args.clients);
const RATE = Number(args.rate);
if (!Number.isInteger(CLIENTS) || CLIENTS < 1) throw new Error('--clients must be a positive integer');
if (!(RATE > 0)) throw new Error('--rate must be a positive number');

process.env.AWS_ACCESS_KEY_ID = 'AKIDBENCHRETRY';
process.env.AWS_SECRET_ACCESS_KEY = 'bench-retry-secret';

type Call = (endpoint: string, region: string) => () => Promise<unknown>;

function sdk(retryMode: 'standard' | 'adaptive', maxAttempts: number): Call {
  return (endpoint, region) => {
    const client = new ECRClient({ region, endpoint, retryMode, maxAttempts });
    return () => client.send(new GetAuthorizationTokenCommand({}));
  };
}

const MODES: Record<string, Call> = {
  'sdk-standard-3': sdk('standard', 3),
  'sdk-standard-10': sdk('standard', 10),
  'sdk-adaptive-10': sdk('adaptive', 10),
  taupage: (endpoint, region) => {
    const source = new AwsEcrTokenSource(endpoint, systemClock);
    return () => source.token(region, new AbortController().signal);
  },
};

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
console.log(
  `retry-modes: ${CLIENTS} clients at once, bucket ${RATE}/s (burst ${RATE}); ${cpus().length} cpus, load ${load()}`,
);
console.log('mode              ok      requests  throttled  p50 s   p99 s   max s');
const ecr = await EcrEmulator.start({ password: 'bench-password' });
try {
  for (const mode of args.modes.split(',')) {
    const make = MODES[mode];
    if (make === undefined) throw new Error(`unknown mode ${mode}`);
    const proxy = await ThrottlingProxy.start({ upstream: ecr.url, protocol: 'json', ratePerSecond: RATE });
    const calls = Array.from({ length: CLIENTS }, () => make(proxy.url, ecr.region));
    const start = performance.now();
    const results = await Promise.all(
      calls.map(async (call) => {
        try {
          await call();
          return (performance.now() - start) / 1000;
        } catch {
          return undefined;
        }
      }),
    );
    const times = results.filter((t): t is number => t !== undefined).sort((a, b) => a - b);
    const requests = proxy.total(proxy.forwarded) + proxy.total(proxy.throttled);
    const fmt = (n: number): string => (Number.isNaN(n) ? '-' : n.toFixed(1)).padEnd(8);
    console.log(
      `${mode.padEnd(18)}${`${times.length}/${CLIENTS}`.padEnd(8)}${String(requests).padEnd(10)}${String(proxy.total(proxy.throttled)).padEnd(11)}${fmt(percentile(times, 50))}${fmt(percentile(times, 99))}${fmt(times.at(-1) ?? Number.NaN)}`,
    );
    await proxy.close();
  }
} finally {
  await ecr.close();
}
console.log(`load at the end: ${load()}`);
