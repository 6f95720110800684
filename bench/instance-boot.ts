// Instance boot benchmark (run through bench/instance-boot): power-on → app healthy, for the
// taupage image booted as a virtual machine (test/vm/support/vm.ts) against a baseline image
// that is the same disk except that taupage.service is not enabled and a unit runs
// `docker run` and a curl loop instead, with the same ordering (after network-online.target
// and docker.service). Same run, alternating (taupage, baseline, taupage, …), medians.
//
// "Healthy" is measured the same way for both, from the host: QEMU spawned → the app's /health
// answers 200 through the forwarded port (polled every 50 ms). Afterwards the guest's systemd
// gives the breakdown: kernel (until PID 1 starts), systemd until the unit starts, dockerd
// ready; for taupage also the agent's boot steps from /status.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { ImdsEmulator } from '../test/emulators/imds-emulator.js';
import { KmsEmulator } from '../test/emulators/kms-emulator.js';
import { accel, HOST_FROM_GUEST, prepareDisk, Vm, type VmDisk } from '../test/vm/support/vm.js';

const run = promisify(execFile);
const REGION = 'eu-central-1';
const BOOT_TIMEOUT_MS = 900_000;

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const RUNS = Number(args.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs must be a positive integer');

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set (source the test env)`);
  return value;
}
const registry = required('TAUPAGE_TEST_REGISTRY');
const registryPort = registry.split(':')[1] ?? '';
const guestRegistry = `${HOST_FROM_GUEST}:${registryPort}`;
const guestImage = required('TAUPAGE_TEST_IMAGE').replace(registry, guestRegistry);

const BASELINE_UNIT = `[Unit]
Description=baseline app: docker run and a curl loop (bench/instance-boot)
After=network-online.target docker.service
Wants=network-online.target
Requires=docker.service

[Service]
Type=exec
ExecStart=/bin/sh -c 'docker run -d --name app -p 8080:8080 -u 999:999 "$BASELINE_IMAGE" >/dev/null && until curl -fsS -o /dev/null http://127.0.0.1:8080/health; do sleep 0.01; done; echo baseline: app healthy >/dev/console'

[Install]
WantedBy=multi-user.target
`;

/** The baseline disk: a copy of the taupage disk, edited with debugfs (no mount), cached. */
async function baselineDisk(disk: VmDisk): Promise<string> {
  const target = join(disk.dir, 'baseline.raw');
  try {
    await access(target);
    return target;
  } catch {
    // build it
  }
  const work = await mkdtemp(join(tmpdir(), 'tp-baseline-'));
  try {
    await writeFile(join(work, 'baseline-app.service'), BASELINE_UNIT, { mode: 0o644 });
    await run('cp', ['--sparse=always', disk.rootRaw, `${target}.tmp`]);
    const wants = '/etc/systemd/system/multi-user.target.wants';
    await writeFile(
      join(work, 'commands'),
      [
        `rm ${wants}/taupage.service`,
        `write ${join(work, 'baseline-app.service')} /etc/systemd/system/baseline-app.service`,
        `symlink ${wants}/baseline-app.service /etc/systemd/system/baseline-app.service`,
        '',
      ].join('\n'),
    );
    const { stdout, stderr } = await run('debugfs', ['-w', '-f', join(work, 'commands'), `${target}.tmp`]);
    if (/not found|error|cannot/i.test(`${stdout}${stderr}`.replace(/debugfs [\d.]+ \([^)]*\)/, ''))) {
      throw new Error(`debugfs: ${stdout}${stderr}`);
    }
    await rename(`${target}.tmp`, target);
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(`${target}.tmp`, { force: true });
  }
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}

interface Sample {
  healthyMs: number;
  kernelMs: number;
  systemdToUnitMs: number;
  dockerdReadyMs: number;
  networkOnlineMs: number;
  agentSteps?: string | undefined;
  agentTotalMs?: number | undefined;
}

async function oneBoot(
  kind: 'taupage' | 'baseline',
  disk: VmDisk,
  baseline: string,
  mode: 'kvm' | 'tcg',
  imds: ImdsEmulator,
  kms: KmsEmulator,
): Promise<Sample> {
  const appPort = await freePort();
  const vm = await Vm.start({
    disk,
    accel: mode,
    ...(kind === 'baseline' ? { rootImage: baseline } : {}),
    imdsPort: Number(new URL(imds.url).port),
    forwards: [{ host: appPort, guest: 8080 }],
    env: {
      TAUPAGE_KMS_ENDPOINT: `http://${HOST_FROM_GUEST}:${new URL(kms.url).port}`,
      BASELINE_IMAGE: guestImage,
    },
    insecureRegistries: [guestRegistry],
    debugShell: true,
  });
  try {
    const deadline = performance.now() + BOOT_TIMEOUT_MS;
    let healthyMs: number | undefined;
    while (healthyMs === undefined) {
      if (!vm.running) throw new Error(`${kind}: the VM went off:\n${await vm.consoleTail()}`);
      if (performance.now() > deadline)
        throw new Error(`${kind}: not healthy in time:\n${await vm.consoleTail()}`);
      try {
        const response = await fetch(`http://127.0.0.1:${appPort}/health`, {
          signal: AbortSignal.timeout(2_000),
        });
        if (response.status === 200) healthyMs = performance.now() - vm.poweredOnAt;
        else await response.body?.cancel();
      } catch {
        // not up yet
      }
      if (healthyMs === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await vm.waitForShell(60_000);
    const unit = kind === 'taupage' ? 'taupage.service' : 'baseline-app.service';
    const show = await vm.run(
      [
        'systemctl show -p UserspaceTimestampMonotonic',
        `systemctl show -p ExecMainStartTimestampMonotonic ${unit}`,
        'systemctl show -p ActiveEnterTimestampMonotonic docker.service',
        'systemctl show -p ActiveEnterTimestampMonotonic network-online.target',
      ].join('; '),
    );
    const values = Object.fromEntries(
      show.split('\n').map((line, index) => [index, Number(line.split('=')[1]) / 1000] as const),
    ) as Record<number, number>;
    const userspace = values[0] ?? 0;
    const sample: Sample = {
      healthyMs,
      kernelMs: userspace,
      systemdToUnitMs: (values[1] ?? 0) - userspace,
      dockerdReadyMs: (values[2] ?? 0) - userspace,
      networkOnlineMs: (values[3] ?? 0) - userspace,
    };
    if (kind === 'taupage') {
      // The agent may still be finishing its boot (the app answers a little before it says so).
      for (;;) {
        const { output, code } = await vm.sh('curl -fsS --max-time 5 http://127.0.0.1:9101/status');
        if (performance.now() > deadline) {
          const agent = (await vm.console()).split('\n').filter((line) => line.includes('taupage['));
          throw new Error(
            `taupage: no finished boot in /status (${output.trim()}):\n${agent.slice(-30).join('\n')}`,
          );
        }
        if (code !== 0) {
          await new Promise((resolve) => setTimeout(resolve, 500));
          continue;
        }
        const status = JSON.parse(output) as {
          boot: { state: string; totalMs: number | null; steps: { name: string; durationMs?: number }[] };
        };
        if (status.boot.state !== 'booting') {
          sample.agentTotalMs = status.boot.totalMs ?? undefined;
          sample.agentSteps = status.boot.steps
            .map((step) => `${step.name} ${step.durationMs ?? '?'}`)
            .join(', ');
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    return sample;
  } finally {
    await vm.destroy();
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

async function main(): Promise<void> {
  const disk = await prepareDisk(process.cwd()); // bench/instance-boot runs from the repository
  const mode = await accel(disk);
  const baseline = await baselineDisk(disk);
  console.log(
    `disk ${disk.dir} (image ${disk.imageId.slice(7, 19)}, kernel ${disk.kernelVersion}); accel ${mode}`,
  );
  const kms = await KmsEmulator.start({ region: REGION });
  const imds = await ImdsEmulator.start({
    identity: { region: REGION, instanceId: `i-0${randomBytes(8).toString('hex')}` },
    instanceRole: {
      name: 'bench',
      accessKeyId: 'ASIABENCH00000000001',
      secretAccessKey: 'bench',
      token: 'bench',
    },
  });
  imds.setUserData(
    [
      '#taupage-ami-config',
      'runtime: Docker',
      'application_id: instance-boot-bench',
      'application_version: "1.0"',
      `source: ${guestImage}`,
      'environment:',
      `  DB_PASSWORD: "${kms.encryptForTest('bench-secret')}"`,
      'ports:',
      '  8080: 8080',
      'health_check_path: /health',
      '',
    ].join('\n'),
  );
  const samples: Record<'taupage' | 'baseline', Sample[]> = { taupage: [], baseline: [] };
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const kind of ['taupage', 'baseline'] as const) {
        const sample = await oneBoot(kind, disk, baseline, mode, imds, kms);
        samples[kind].push(sample);
        console.log(
          `run ${i + 1} ${kind.padEnd(8)} healthy ${sample.healthyMs.toFixed(0)} ms | kernel ${sample.kernelMs.toFixed(0)} ms, ` +
            `systemd → unit ${sample.systemdToUnitMs.toFixed(0)} ms, network-online ${sample.networkOnlineMs.toFixed(0)} ms, ` +
            `dockerd ready ${sample.dockerdReadyMs.toFixed(0)} ms (from PID 1)` +
            (sample.agentSteps ? ` | agent ${sample.agentTotalMs ?? '?'} ms: ${sample.agentSteps}` : ''),
        );
      }
    }
  } finally {
    await imds.close();
    await kms.close();
  }
  const summary = (kind: 'taupage' | 'baseline', key: keyof Sample) =>
    median(samples[kind].map((sample) => Number(sample[key] ?? 0))).toFixed(0);
  console.log(`\nmedians over ${RUNS} runs each (load average at the end ${loadavg()[0]?.toFixed(1)}):`);
  for (const key of [
    'healthyMs',
    'kernelMs',
    'systemdToUnitMs',
    'networkOnlineMs',
    'dockerdReadyMs',
    'agentTotalMs',
  ] as const) {
    console.log(
      `  ${key.padEnd(16)} taupage ${summary('taupage', key).padStart(7)}   baseline ${summary('baseline', key).padStart(7)}`,
    );
  }
  const taupage = median(samples.taupage.map((sample) => sample.healthyMs));
  const base = median(samples.baseline.map((sample) => sample.healthyMs));
  console.log(
    `instance boot → healthy: taupage ${taupage.toFixed(0)} ms, baseline ${base.toFixed(0)} ms, ratio ${(taupage / base).toFixed(2)} (accel ${mode})`,
  );
}

await main();
