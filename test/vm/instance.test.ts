// The taupage image as a machine: the disk scripts/ami-disk-local.sh makes from the local AMI
// build (the same provisioners as the amazon-ebs AMI) boots in QEMU with its own kernel, systemd,
// dockerd and containerd, IMDSv2 at 169.254.169.254 (test/vm/support/vm.ts says how the test
// reaches it without writing anything into the image).
//
// One machine for the whole file and two boots (power-on, one reboot), because under software
// emulation (TCG) every boot costs minutes: power-on → app healthy → CloudFormation SUCCESS; the
// config's sysctl and THP on the guest's kernel; md RAID1 of two virtio disks and an EBS volume
// attached through the EC2 API and found as the NVMe namespace with its id, formatted, mounted,
// grown; an SSH grant from the host through the forced command, a login, its expiry, the auth
// log at Scalyr; kill -9 of the agent → systemd restarts it → the container is adopted; `reboot`
// → the same container started again, the RAID assembled again; invalid user data → exit 2,
// failed, no restart, FAILURE; the agent restarted with valid user data and `shutdown: on-exit`
// → the app exits → the machine powers itself off (QEMU ends by itself). The user data changes
// as an operator changes it, and the agent reads it when it starts.
//
// Guest commands go through the serial debug shell and cost the guest CPU: polls of the guest
// are paced (GUEST_POLL_MS), host-side polls (emulators, the forwarded app port) are not.
//
// Needs root, the test environment (registry on the host) and qemu-system-x86 (scripts/test-env.sh
// installs it). The accelerator (kvm or tcg) is probed and printed.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudFormationEmulator } from '../emulators/cloudformation-emulator.js';
import { Ec2Emulator } from '../emulators/ec2-emulator.js';
import { ImdsEmulator } from '../emulators/imds-emulator.js';
import { KmsEmulator } from '../emulators/kms-emulator.js';
import { ScalyrEmulator } from '../emulators/scalyr-emulator.js';
import { env, eventually, freePort } from '../support/test-env.js';
import { keygen, sshToGuest, startKeyServer, type KeyServer } from './support/guest-ssh.js';
import { accel, HOST_FROM_GUEST, prepareDisk, Vm, type Accel, type VmDisk } from './support/vm.js';

const sh = promisify(execFile);

// Budgets under TCG on 2 cores shared with other test runs: a boot to a healthy app took
// 3.5–8 min at load average 15–19 (KVM: seconds); the budgets leave room for worse.
const BOOT_BUDGET_MS = 900_000;
const STEP_BUDGET_MS = 600_000;
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
const instanceId = `i-0${randomBytes(8).toString('hex')}`;
/** The EBS volume of scenario d: its id is the NVMe serial (without the dash, 20 characters). */
const ebsVolumeId = `vol-0${randomBytes(8).toString('hex')}`;
const ebsName = `vm-data-${suffix}`;
const SCALYR_KEY = `0vmScalyrWrite${randomBytes(8).toString('hex')}`;
/** A person granted SSH access in scenario f. */
const person = `vm${randomBytes(3).toString('hex')}`;
const invalidStack = `vm-invalid-${suffix}`;

let disk: VmDisk;
let mode: Accel;
let kms: KmsEmulator;
let imds: ImdsEmulator;
let cfn: CloudFormationEmulator;
let ec2: Ec2Emulator;
let scalyr: ScalyrEmulator;
let keyServer: KeyServer | undefined;
let workDir = '';
let sshPort: number;
let grantingKey: { privateKey: string; publicKey: string };
let personKey: { privateKey: string; publicKey: string };
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
    // Scenario d: md RAID1 of the two extra virtio disks, and an EBS volume found by its Name
    // tag, attached through the EC2 API and mapped to the NVMe namespace carrying its id.
    'volumes:',
    '  raid:',
    '    /dev/md/data:',
    '      level: 1',
    '      devices: [/dev/vdb, /dev/vdc]',
    '  ebs:',
    `    /dev/xvdf: ${ebsName}`,
    'mounts:',
    '  /data:',
    '    partition: /dev/md/data',
    '    filesystem: ext4',
    '  /ebs:',
    '    partition: /dev/xvdf',
    '    filesystem: ext4',
    // Scenario f: the auth log (SSH logins) shipped to Scalyr.
    'logging:',
    `  scalyr_account_key: "${kms.encryptForTest(SCALYR_KEY)}"`,
    '  use_scalyr_agent_applog: false',
    '  use_scalyr_agent_syslog: false',
    '  use_scalyr_agent_authlog: true',
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
    eventuallyInGuest(
      async () => {
        const current = (await status()) as Record<string, unknown> & { boot: Boot };
        return current.boot.state === 'booting' ? undefined : current;
      },
      what,
      STEP_BUDGET_MS,
    ),
  );
}

/** At most one poll of the guest this often: each runs commands in it (CPU, under TCG). */
const GUEST_POLL_MS = 2_000;

/** eventually() for checks that run commands in the guest, paced by GUEST_POLL_MS. */
function eventuallyInGuest<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs: number,
): Promise<T> {
  let last = 0;
  return eventually(
    async () => {
      const wait = last + GUEST_POLL_MS - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      last = Date.now();
      return check();
    },
    what,
    timeoutMs,
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
    eventuallyInGuest(
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
    identity: { region: 'eu-central-1', instanceId },
    instanceRole: role,
  });
  imds.setUserData(userData());
  appPort = await freePort();
  sshPort = await freePort();
  ec2 = await Ec2Emulator.start({ region: 'eu-central-1' });
  ec2.addInstance(instanceId, 'eu-central-1a');
  ec2.addVolume({ availabilityZone: 'eu-central-1a', name: ebsName, volumeId: ebsVolumeId, size: 1 });
  scalyr = await ScalyrEmulator.start(SCALYR_KEY);

  // The machine's extra disks (scenario d): two blank members for the RAID, and the EBS volume,
  // which holds a small ext4 (64 MiB of its 256 MiB) with a file: mounted, kept and grown.
  workDir = await mkdtemp(join(tmpdir(), 'tpvm-h17-disks-'));
  for (const member of ['raid-a.raw', 'raid-b.raw'])
    await sh('truncate', ['-s', '256M', join(workDir, member)]);
  await mkdir(join(workDir, 'ebs-content'));
  await writeFile(join(workDir, 'ebs-content', 'kept.txt'), `written before the boot ${suffix}\n`);
  await sh('truncate', ['-s', '256M', join(workDir, 'ebs.raw')]);
  await sh('mkfs.ext4', ['-q', '-F', '-d', join(workDir, 'ebs-content'), join(workDir, 'ebs.raw'), '64M']);

  // Scenario f: the granting service's key and the person's, and even's key server.
  grantingKey = await keygen(workDir, 'granting-service');
  personKey = await keygen(workDir, person);
  keyServer = await startKeyServer(workDir, new Map([[person, personKey.publicKey]]));
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
  const started = [imds, kms, cfn, ec2, keyServer] as ({ close(): Promise<void> } | undefined)[];
  for (const emulator of started) await emulator?.close();
  await (scalyr as ScalyrEmulator | undefined)?.stop();
  if (workDir !== '') await rm(workDir, { recursive: true, force: true });
}, 60_000);

describe(`the taupage image as a virtual machine`, () => {
  let firstApp: { id: string; startedAt: string };

  it('powers on, gets its user data from IMDSv2 at 169.254.169.254, runs the app under its own dockerd, healthy, and signals SUCCESS', async () => {
    const port = (url: string) => new URL(url).port;
    vm = await Vm.start({
      disk,
      accel: mode,
      imdsPort: Number(port(imds.url)),
      forwards: [
        { host: appPort, guest: 8080 },
        { host: sshPort, guest: 22 },
      ],
      env: {
        TAUPAGE_KMS_ENDPOINT: `http://${HOST_FROM_GUEST}:${port(kms.url)}`,
        TAUPAGE_CLOUDFORMATION_ENDPOINT: `http://${HOST_FROM_GUEST}:${port(cfn.url)}`,
        TAUPAGE_EC2_ENDPOINT: `http://${HOST_FROM_GUEST}:${port(ec2.url)}`,
        TAUPAGE_SCALYR_ENDPOINT: `http://${HOST_FROM_GUEST}:${port(scalyr.url)}`,
      },
      insecureRegistries: [`${HOST_FROM_GUEST}:${env.registry.split(':')[1]}`],
      debugShell: true,
      qemuArgs: [
        ...['-drive', `file=${join(workDir, 'raid-a.raw')},if=virtio,format=raw,cache=unsafe`],
        ...['-drive', `file=${join(workDir, 'raid-b.raw')},if=virtio,format=raw,cache=unsafe`],
        ...['-drive', `file=${join(workDir, 'ebs.raw')},if=none,id=ebs0,format=raw,cache=unsafe`],
        ...['-device', `nvme,drive=ebs0,serial=${ebsVolumeId.replace('-', '')}`],
      ],
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
    // -u 999 as the original, the application group (999) added (docs/ami.md, 10-users.sh).
    expect(
      await machine().run(
        `docker inspect --format '{{.Config.User}} {{.HostConfig.GroupAdd}}' ${firstApp.id}`,
      ),
    ).toBe('999 [999]');
    expect(await machine().run('systemd-detect-virt')).toMatch(/^(qemu|kvm)$/);

    const analyze = await machine().run(
      'systemd-analyze time; systemd-analyze blame --no-pager | head -n 12; systemd-analyze critical-chain --no-pager taupage.service',
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

  it('builds md RAID1 from two virtio disks on the guest kernel and maps the EBS volume to its NVMe namespace: formatted, mounted, grown', async () => {
    const mdstat = await machine().run('cat /proc/mdstat');
    expect(mdstat).toMatch(/^md\d+ : active raid1 .*vd[bc]\[\d\] .*vd[bc]\[\d\]/m);
    expect(await machine().run('readlink -f /dev/md/data')).toBe(
      await machine().run('findmnt -n -o SOURCE /mounts/data'),
    );
    expect(await machine().run('findmnt -n -o FSTYPE /mounts/data')).toBe('ext4');
    // The EBS volume: attached through the EC2 API at the config's device name, found as the NVMe
    // namespace whose serial is its id, /dev/xvdf linked to it; its file system kept and grown
    // from 64 MiB to the device's 256 MiB.
    expect(ec2.volume(ebsVolumeId).attachment).toMatchObject({
      instanceId,
      device: '/dev/xvdf',
      state: 'attached',
    });
    expect(await machine().run('readlink -f /dev/xvdf')).toBe('/dev/nvme0n1');
    expect(await machine().run('findmnt -n -o SOURCE,FSTYPE /mounts/ebs')).toMatch(
      /^\/dev\/(nvme0n1|xvdf)\s+ext4$/,
    );
    expect(await machine().run('cat /mounts/ebs/kept.txt')).toBe(`written before the boot ${suffix}`);
    expect(Number(await machine().run('df -B1M --output=size /mounts/ebs | tail -n 1'))).toBeGreaterThan(200);
    // The mounts are the host's (the debug shell runs in PID 1's mount namespace), so dockerd
    // bound them into the app: the container sees the RAID at /data and the volume at /ebs.
    const binds = await machine().run(
      `docker inspect --format '{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}' ${firstApp.id}`,
    );
    expect(binds).toContain('/mounts/data:/data');
    expect(binds).toContain('/mounts/ebs:/ebs');
    const inApp = await machine().run(
      `docker exec ${firstApp.id} sh -c 'cat /ebs/kept.txt; grep -E " /(data|ebs) " /proc/mounts | cut -d" " -f2,3 | sort'`,
    );
    expect(inApp).toBe(`written before the boot ${suffix}\n/data ext4\n/ebs ext4`);
    // For the reboot: the array is assembled again and keeps what was written.
    await machine().run(`echo raid-${suffix} > /mounts/data/kept.txt && sync`);
  });

  it('grants SSH access from the host through the forced command, lets the person in, expires the grant, and ships the auth log lines', async () => {
    // What the AMI build bakes in from its variables (ami/40-granting-service.sh: the granting
    // service's key; /etc/ssh-access-granting-service.yaml: even's URL and CA), written the way
    // the build writes them: this test's key server and key pair are not the image's.
    await machine().run(
      [
        `printf 'restrict,command="sudo -n /usr/local/bin/taupage ssh-access" %s\\n' '${grantingKey.publicKey}' > /etc/ssh/authorized_keys.d/granting-service`,
        `cat > /etc/ssl/even-ca.pem <<'PEM'\n${keyServer?.caPem.trim() ?? ''}\nPEM`,
        `printf 'ssh_access_granting_service_url: %s\\nuser_groups: [users]\\nca_file: /etc/ssl/even-ca.pem\\n' '${keyServer?.url ?? ''}' > /etc/ssh-access-granting-service.yaml`,
      ].join('\n'),
    );
    const granted = await sshToGuest(
      sshPort,
      'granting-service',
      grantingKey.privateKey,
      `grant-ssh-access --ttl 1 ${person}`,
    );
    expect(granted, granted.stderr).toMatchObject({ code: 0 });
    const login = await sshToGuest(sshPort, person, personKey.privateKey, 'id -un');
    expect(login, login.stderr).toMatchObject({ code: 0, stdout: `${person}\n` });

    // sshd's lines (auth.log, via rsyslog) reach Scalyr, and become audit events.
    await withConsole(() =>
      eventually(
        () =>
          Promise.resolve(
            scalyr.events.some((event) => event.message.includes(`Accepted publickey for ${person}`))
              ? true
              : undefined,
          ),
        'the login line of auth.log at Scalyr',
        STEP_BUDGET_MS,
      ),
    );
    const audit = (type: string) =>
      machine()
        .sh(`grep -F '"type":"${type}"' /var/log/taupage/audit.jsonl | grep -F '"${person}"'`)
        .then(({ code }) => (code === 0 ? true : undefined));
    await withConsole(() => eventuallyInGuest(() => audit('ssh.grant'), 'the ssh.grant audit event', 60_000));
    await withConsole(() =>
      eventuallyInGuest(() => audit('ssh.login'), 'the ssh.login audit event', STEP_BUDGET_MS),
    );

    // One minute later the grant is gone: revoked by the agent (audited), refused by sshd.
    await withConsole(() =>
      eventuallyInGuest(() => audit('ssh.expire'), 'the ssh.expire audit event', 240_000),
    );
    const after = await sshToGuest(sshPort, person, personKey.privateKey, 'id -un');
    expect(after.stdout).not.toContain(person);
    expect(after.code !== 0 || after.stdout.includes('revoked')).toBe(true);
  });

  it('survives kill -9 of the agent: systemd restarts it and it adopts the running container', async () => {
    const marker = await machine().run(`cat ${BOOT_MARKER}`);
    const restarts = Number(await machine().run('systemctl show -p NRestarts --value taupage.service'));
    const before = await machine().run('systemctl show -p MainPID --value taupage.service');
    expect(before).toMatch(/^[1-9]\d*$/); // a running agent (kill -9 0 would hit the shell's group)
    await machine().run(`kill -9 ${before}`);
    const after = await withConsole(() =>
      eventuallyInGuest(
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
    // The RAID of scenario d, assembled again from its members, with its data; no grant is left.
    expect(await machine().run('cat /mounts/data/kept.txt')).toBe(`raid-${suffix}`);
    expect(await machine().run('cat /mounts/ebs/kept.txt')).toBe(`written before the boot ${suffix}`);
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
    // The agent reads the user data again when it starts (no reboot needed for that: a boot
    // under TCG costs minutes); the app container it leaves running is not its business then.
    await machine().run('systemctl restart taupage.service');
    const signal = await withConsole(() =>
      eventually(
        () => Promise.resolve(cfn.signals.find((recorded) => recorded.stackName === invalidStack)),
        'the FAILURE signal of the invalid user data',
        STEP_BUDGET_MS,
      ),
    );
    expect(signal.status).toBe('FAILURE');
    const unit = await withConsole(() =>
      eventuallyInGuest(
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
