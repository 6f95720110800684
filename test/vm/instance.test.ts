// The taupage image as a machine: the disk scripts/ami-disk-local.sh makes from the local AMI
// build (the same provisioners as the amazon-ebs AMI) boots in QEMU with its own kernel, systemd,
// dockerd and containerd, IMDSv2 at 169.254.169.254 (test/vm/support/vm.ts says how the test
// reaches it without writing anything into the image).
//
// One machine for the whole file, because under software emulation (TCG) every boot costs
// tens of seconds: power-on → app healthy → CloudFormation SUCCESS; the config's sysctl and THP
// on the guest's kernel; kill -9 of the agent → systemd restarts it → the container is adopted;
// `reboot` → the same container started again; invalid user data → exit 2, failed, no restart,
// FAILURE; the agent restarted with valid user data and `shutdown: on-exit` → the app exits →
// the machine powers itself off (QEMU ends by itself). The user data changes between boots as
// an operator changes it (on EC2: stop, modify the attribute, start).
//
// Needs root, the test environment (registry on the host) and qemu-system-x86 (scripts/test-env.sh
// installs it). The accelerator (kvm or tcg) is probed and printed.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudFormationEmulator } from '../emulators/cloudformation-emulator.js';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { KmsEmulator } from '../emulators/kms-emulator.js';
import { env, eventually, freePort } from '../support/test-env.js';
import { accel, HOST_FROM_GUEST, prepareDisk, Vm, type Accel, type VmDisk } from './support/vm.js';

// Budgets under TCG on 2 cores shared with other test runs: a boot to a healthy app took
// 3.5–7 min at load average 15 (KVM: seconds).
const BOOT_BUDGET_MS = 600_000;
const STEP_BUDGET_MS = 420_000;
/** docs/boot-sequence.md: when the agent first started in this host boot (tmpfs). */
const BOOT_MARKER = '/run/taupage-init-ran/date';

const suffix = randomBytes(3).toString('hex');
const secret = `vm-plaintext-${randomBytes(8).toString('hex')}`;
const role = {
  name: 'taupage-vm-test',
  accessKeyId: 'ASIAVMTEST0000000001',
  secretAccessKey: `vm-secret-${randomBytes(8).toString('hex')}`,
  token: `vm-token-${randomBytes(8).toString('hex')}`,
};
const stack = `vm-${suffix}`;
const invalidStack = `vm-invalid-${suffix}`;

let disk: VmDisk;
let mode: Accel;
let kms: KmsEmulator;
let imds: ImdsEmulator;
let cfn: CloudFormationEmulator;
let vm: Vm | undefined;
let appPort: number;
let guestImage: string;
const figures: Record<string, string> = {};

let validUserData: string | undefined;

/** The valid user data, encrypted once: the same config (digest) on every boot. */
function userData(): string {
  validUserData ??= [
    '#taupage-ami-config',
    'runtime: Docker',
    'application_id: vm-boot',
    'application_version: "1.0"',
    `source: ${guestImage}`,
    'environment:',
    `  DB_PASSWORD: "${kms.encryptForTest(secret)}"`,
    'ports:',
    '  8080: 8080',
    'health_check_path: /health',
    'shutdown: on-exit',
    'sysctl:',
    '  vm.swappiness: 7',
    'sysfs:',
    '  /sys/kernel/mm/transparent_hugepage/enabled: never',
    'notify_cfn:',
    `  stack: ${stack}`,
    '  resource: AppServer',
    '',
  ].join('\n');
  return validUserData;
}

function machine(): Vm {
  if (vm === undefined) throw new Error('the VM did not start');
  return vm;
}

/** The agent's /status inside the guest (it listens on the guest's 127.0.0.1). */
async function status(): Promise<Record<string, unknown>> {
  return JSON.parse(await machine().run('curl -fsS --max-time 5 http://127.0.0.1:9101/status')) as Record<
    string,
    unknown
  >;
}

type Boot = {
  state: string;
  error: unknown;
  totalMs: number | null;
  steps: { name: string; detail?: string; durationMs?: number }[];
};

async function bootFinished(what: string): Promise<Record<string, unknown> & { boot: Boot }> {
  return withConsole(() =>
    eventually(
      async () => {
        const current = (await status()) as Record<string, unknown> & { boot: Boot };
        return current.boot.state === 'booting' ? undefined : current;
      },
      what,
      STEP_BUDGET_MS,
    ),
  );
}

/** Any failure of `action` carries the tail of the serial console. */
async function withConsole<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    const tail = vm === undefined ? '(no VM)' : await vm.consoleTail(150);
    throw new Error(`${(error as Error).message}\n--- serial console (last lines) ---\n${tail}`, {
      cause: error,
    });
  }
}

async function appContainer(): Promise<{ id: string; startedAt: string; running: boolean }[]> {
  const out = await machine().run(
    "docker ps -a --filter label=io.taupage.managed --format '{{.ID}}' | xargs -r docker inspect --format '{{.Id}} {{.State.StartedAt}} {{.State.Running}}'",
  );
  return out === ''
    ? []
    : out.split('\n').map((line) => {
        const [id = '', startedAt = '', running = ''] = line.split(' ');
        return { id, startedAt, running: running === 'true' };
      });
}

async function bootId(): Promise<string> {
  return machine().run('cat /proc/sys/kernel/random/boot_id');
}

/** Reboots the guest and waits for the shell of the next boot. */
async function reboot(): Promise<void> {
  const before = await bootId();
  await machine().sh('systemctl --no-block reboot');
  await withConsole(() =>
    eventually(
      async () => {
        await machine().waitForShell(BOOT_BUDGET_MS);
        const now = await bootId();
        return now !== before ? now : undefined;
      },
      'the guest to come back from the reboot',
      BOOT_BUDGET_MS,
    ),
  );
}

beforeAll(async () => {
  const started = Date.now();
  disk = await prepareDisk();
  figures['disk (build + convert, 0 = cached)'] = `${disk.buildSeconds} s, kernel ${disk.kernelVersion}`;
  mode = await accel(disk);
  figures.accel = mode;
  figures['prepare total'] = `${((Date.now() - started) / 1000).toFixed(0)} s`;

  const registryPort = env.registry.split(':')[1] ?? '';
  guestImage = env.image.replace(env.registry, `${HOST_FROM_GUEST}:${registryPort}`);
  kms = await KmsEmulator.start({ region: 'eu-central-1', credentials: [role] });
  cfn = await CloudFormationEmulator.start({ region: 'eu-central-1' });
  cfn.expectSignal(stack, 'AppServer');
  cfn.expectSignal(invalidStack, 'AppServer');
  imds = await ImdsEmulator.start({
    userData: '',
    identity: { region: 'eu-central-1', instanceId: `i-0${randomBytes(8).toString('hex')}` },
    instanceRole: role,
  });
  imds.setUserData(userData());
  appPort = await freePort();
}, 1_200_000);

afterAll(async () => {
  console.log(
    `VM figures:\n${Object.entries(figures)
      .map(([name, value]) => `  ${name}: ${value}`)
      .join('\n')}`,
  );
  // The whole serial console stays in the temp dir (failures carry only its tail).
  const kept = await vm?.destroy(true);
  if (kept !== undefined) console.log(`serial console: ${kept}`);
  // beforeAll may have failed before starting them.
  const started = [imds, kms, cfn] as ({ close(): Promise<void> } | undefined)[];
  for (const emulator of started) await emulator?.close();
}, 60_000);

describe(`the taupage image as a virtual machine`, () => {
  let firstApp: { id: string; startedAt: string };

  it('powers on, gets its user data from IMDSv2 at 169.254.169.254, runs the app under its own dockerd, healthy, and signals SUCCESS', async () => {
    const port = (url: string) => new URL(url).port;
    vm = await Vm.start({
      disk,
      accel: mode,
      imdsPort: Number(port(imds.url)),
      forwards: [{ host: appPort, guest: 8080 }],
      env: {
        TAUPAGE_KMS_ENDPOINT: `http://${HOST_FROM_GUEST}:${port(kms.url)}`,
        TAUPAGE_CLOUDFORMATION_ENDPOINT: `http://${HOST_FROM_GUEST}:${port(cfn.url)}`,
      },
      insecureRegistries: [`${HOST_FROM_GUEST}:${env.registry.split(':')[1]}`],
      debugShell: true,
    });
    const signal = await withConsole(() =>
      eventually(
        () => Promise.resolve(cfn.signals.find((recorded) => recorded.stackName === stack)),
        'the CloudFormation signal of the first boot',
        BOOT_BUDGET_MS,
      ),
    );
    figures['power-on -> SUCCESS signal'] =
      `${((performance.now() - machine().poweredOnAt) / 1000).toFixed(1)} s (${mode})`;
    expect(signal).toMatchObject({ status: 'SUCCESS', logicalResourceId: 'AppServer' });
    // The app answers from the guest through the forwarded port.
    const health = await fetch(`http://127.0.0.1:${appPort}/health`);
    expect(await health.text()).toBe('ok');

    await machine().waitForShell(60_000);
    const booted = await bootFinished('the agent to report its boot');
    expect(booted.boot).toMatchObject({ state: 'succeeded', error: null });
    expect(booted).toMatchObject({ health: { status: 'passing' } });
    figures['/status boot timeline'] = booted.boot.steps
      .map((step) => `${step.name} ${step.durationMs ?? '?'} ms`)
      .join(', ');
    // IMDSv2 at its real address: a token PUT, then reads with the token.
    expect(
      imds.requests.some((request) => request.method === 'PUT' && request.path === '/latest/api/token'),
    ).toBe(true);
    expect(imds.requests.some((request) => request.path === '/latest/user-data')).toBe(true);

    // The image's own engine runs the app: dockerd and containerd are units of this machine.
    expect(await machine().run('systemctl is-active docker.service containerd.service taupage.service')).toBe(
      'active\nactive\nactive',
    );
    const apps = await appContainer();
    expect(apps).toHaveLength(1);
    expect(apps[0]?.running).toBe(true);
    firstApp = { id: apps[0]?.id ?? '', startedAt: apps[0]?.startedAt ?? '' };
    expect(await machine().run(`docker inspect --format '{{.Config.User}}' ${firstApp.id}`)).toBe('999:999');
    expect(await machine().run('systemd-detect-virt')).toMatch(/^(qemu|kvm)$/);

    const analyze = await machine().run(
      'systemd-analyze time; systemd-analyze blame --no-pager | head -n 12',
    );
    figures['systemd-analyze'] = `\n${analyze.replaceAll(/^/gm, '    ')}`;
    expect(analyze).toMatch(/Startup finished in .*\(kernel\).*\(userspace\)/);
    const failed = await machine().run('systemctl list-units --failed --plain --no-legend --full');
    expect(failed).toBe('');
    const journal = await machine().run('journalctl -b --no-pager -o cat -u taupage.service');
    expect(journal).toContain('Boot completed');
    expect(journal).not.toContain(secret);
    expect(await machine().console()).not.toContain(secret);
  });

  it("applies the config's sysctl and transparent huge pages setting on the guest's kernel", async () => {
    expect(await machine().run('cat /proc/sys/vm/swappiness')).toBe('7');
    expect(await machine().run('cat /sys/kernel/mm/transparent_hugepage/enabled')).toContain('[never]');
    expect(await machine().run('cat /etc/sysctl.d/99-custom.conf')).toMatch(/vm\.swappiness\s*=\s*7/);
  });

  it('survives kill -9 of the agent: systemd restarts it and it adopts the running container', async () => {
    const marker = await machine().run(`cat ${BOOT_MARKER}`);
    const restarts = Number(await machine().run('systemctl show -p NRestarts --value taupage.service'));
    const before = await machine().run('systemctl show -p MainPID --value taupage.service');
    expect(before).toMatch(/^[1-9]\d*$/); // a running agent (kill -9 0 would hit the shell's group)
    await machine().run(`kill -9 ${before}`);
    const after = await withConsole(() =>
      eventually(
        async () => {
          const pid = await machine().run('systemctl show -p MainPID --value taupage.service');
          return pid !== '0' && pid !== before ? pid : undefined;
        },
        'systemd to restart the agent',
        STEP_BUDGET_MS,
      ),
    );
    expect(after).not.toBe(before);
    const rebooted = await bootFinished('the restarted agent to finish its boot');
    expect(rebooted.boot.state).toBe('succeeded');
    expect(rebooted.boot.steps.find((step) => step.name === 'container')?.detail).toMatch(
      /^adopted running container/,
    );
    expect(Number(await machine().run('systemctl show -p NRestarts --value taupage.service'))).toBe(
      restarts + 1,
    );
    // Not restarted: the same container, the same start time.
    expect(await appContainer()).toEqual([{ ...firstApp, running: true }]);
    // The same host boot: the restarted agent keeps the boot marker's first time.
    expect(await machine().run(`cat ${BOOT_MARKER}`)).toBe(marker);
  });

  it('reboots: the same container is started again, no second one, with a fresh boot marker', async () => {
    const rebootedAt = Date.now();
    await reboot();
    const booted = await bootFinished('the agent of the second boot');
    figures['reboot -> app healthy'] = `${((Date.now() - rebootedAt) / 1000).toFixed(1)} s`;
    expect(booted.boot.state).toBe('succeeded');
    expect(booted.boot.steps.find((step) => step.name === 'container')?.detail).toMatch(
      /^started existing container|^adopted running container/,
    );
    const apps = await appContainer();
    expect(apps).toHaveLength(1);
    expect(apps[0]?.id).toBe(firstApp.id);
    expect(apps[0]?.running).toBe(true);
    expect(Date.parse(apps[0]?.startedAt ?? '')).toBeGreaterThan(Date.parse(firstApp.startedAt));
    // The boot marker lives in /run (tmpfs): written again by this boot's agent, after power-on of
    // this boot (uptime), at whole seconds.
    const [marker = '', uptime = ''] = (
      await machine().run(`cat ${BOOT_MARKER}; cut -d' ' -f1 /proc/uptime; date +%s`)
    ).split('\n');
    const now = Number((await machine().run('date +%s')).trim());
    expect(Date.parse(marker) / 1000).toBeGreaterThanOrEqual(now - Number(uptime) - 2);
    expect(await (await fetch(`http://127.0.0.1:${appPort}/health`)).text()).toBe('ok');
  });

  it('refuses invalid user data: exit 2, the unit failed without a restart, FAILURE signalled', async () => {
    imds.setUserData(
      [
        '#taupage-ami-config',
        'runtime: Docker',
        'application_id: vm-boot',
        'ports:',
        '  8080: 8080',
        'notify_cfn:',
        `  stack: ${invalidStack}`,
        '  resource: AppServer',
        '',
      ].join('\n'),
    );
    await reboot();
    const signal = await withConsole(() =>
      eventually(
        () => Promise.resolve(cfn.signals.find((recorded) => recorded.stackName === invalidStack)),
        'the FAILURE signal of the invalid boot',
        STEP_BUDGET_MS,
      ),
    );
    expect(signal.status).toBe('FAILURE');
    const unit = await withConsole(() =>
      eventually(
        async () => {
          const show = await machine().run(
            'systemctl show -p ActiveState -p SubState -p Result -p ExecMainStatus -p NRestarts taupage.service',
          );
          return show.includes('ActiveState=failed') ? show : undefined;
        },
        'taupage.service to fail',
        STEP_BUDGET_MS,
      ),
    );
    // failed (not activating/auto-restart): systemd will not start it again by itself.
    expect(unit).toContain('Result=exit-code');
    expect(unit).toContain('ExecMainStatus=2');
    expect(unit).toContain('NRestarts=0');
    const journal = await machine().run('journalctl -b --no-pager -o cat -u taupage.service');
    expect(journal).toMatch(/source/);
  });

  it('with shutdown: on-exit, powers the machine off when the app exits (QEMU ends by itself)', async () => {
    imds.setUserData(userData());
    // The operator starts the agent again after fixing the user data (systemctl restart).
    await machine().run('systemctl restart taupage.service');
    const booted = await bootFinished('the agent restarted with valid user data');
    expect(booted.boot.state).toBe('succeeded');
    const [app] = await appContainer();
    expect(app?.running).toBe(true);
    const stoppedAt = Date.now();
    // The app exits (stopped, so Docker does not restart it).
    await machine()
      .sh(`docker stop --time 5 ${app?.id ?? ''}`)
      .catch(() => undefined);
    const code = await withConsole(() => machine().waitForPowerOff(STEP_BUDGET_MS));
    figures['app exit -> powered off'] = `${((Date.now() - stoppedAt) / 1000).toFixed(1)} s`;
    expect(code).toBe(0);
    expect(await machine().console()).toMatch(/Powering the instance off|reboot: Power down/);
  });
});
