import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import { readBootTime, writeBootMarker } from '../../../src/lifecycle/host-boot-marker.js';
import { ensureCustomLogDir } from '../../../src/host/custom-log-dir.js';
import { ensureRouteTableName } from '../../../src/host/nat-gateway-routing.js';
import { applySysctl, validateSysctlNames } from '../../../src/host/sysctl-settings.js';
import { applySysfs } from '../../../src/host/sysfs-settings.js';

const log = createLogger({ level: 'silent', redactor: new Redactor() });
const THP = '/sys/kernel/mm/transparent_hugepage/enabled';
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-host-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('sysfs', () => {
  it('writes the value and a newline to an allowed path, at every boot', async () => {
    await mkdir(join(dir, 'kernel/mm/transparent_hugepage'), { recursive: true });
    await writeFile(join(dir, 'kernel/mm/transparent_hugepage/enabled'), 'always [madvise] never\n');
    await applySysfs(new Map([[THP, 'never']]), { sysfsRoot: dir, log });
    expect(await readFile(join(dir, 'kernel/mm/transparent_hugepage/enabled'), 'utf8')).toMatch(/^never\n/);
  });

  it('refuses paths off the allow-list and files that do not exist', async () => {
    await expect(
      applySysfs(new Map([['/sys/kernel/mm/ksm/run', '1']]), { sysfsRoot: dir, log }),
    ).rejects.toThrow(
      'sysfs./sys/kernel/mm/ksm/run: not an allowed sysfs path (/sys/kernel/mm/transparent_hugepage/enabled)',
    );
    await expect(applySysfs(new Map([[THP, 'never']]), { sysfsRoot: dir, log })).rejects.toMatchObject({
      code: 'HOST_TUNING_FAILED',
      message: `sysfs.${THP}: could not write ${dir}/kernel/mm/transparent_hugepage/enabled (ENOENT)`,
    });
  });
});

describe('sysctl validation against /proc/sys', () => {
  it('accepts real kernel parameters and names the first unknown one', async () => {
    await validateSysctlNames(
      new Map([
        ['vm.swappiness', '1'],
        ['net.core.somaxconn', '1024'],
      ]),
    );
    await expect(
      validateSysctlNames(
        new Map([
          ['vm.swappiness', '1'],
          ['net.foo.bar', '1'],
        ]),
      ),
    ).rejects.toMatchObject({
      code: 'SYSCTL_INVALID',
      message: 'sysctl.net.foo.bar: no such kernel parameter (/proc/sys/net/foo/bar)',
    });
    await expect(validateSysctlNames(new Map([['net/../../etc/passwd', '1']]))).rejects.toThrow(
      'sysctl.net/../../etc/passwd: not a kernel parameter name',
    );
  });

  it('removes an earlier drop-in when the config has no sysctl any more', async () => {
    const dropInPath = join(dir, '99-custom.conf');
    await writeFile(dropInPath, 'vm.swappiness = 1\n');
    await applySysctl(new Map(), { dropInPath, log }, AbortSignal.timeout(5_000));
    await expect(stat(dropInPath)).rejects.toMatchObject({ code: 'ENOENT' });
    await applySysctl(new Map(), { dropInPath, log }, AbortSignal.timeout(5_000));
  });
});

describe('custom log directory', () => {
  it('is created owned by the app user, and fixed up on the next boot', async () => {
    const path = join(dir, 'log-custom');
    await ensureCustomLogDir({ uid: 999, gid: 999 }, path);
    await writeFile(join(path, 'app.log'), 'x');
    await ensureCustomLogDir({ uid: 999, gid: 999 }, path);
    const info = await stat(path);
    expect({ uid: info.uid, gid: info.gid, mode: info.mode & 0o777 }).toEqual({
      uid: 999,
      gid: 999,
      mode: 0o755,
    });
    expect((await stat(join(path, 'app.log'))).uid).toBe(process.getuid?.());
  });
});

describe('boot marker', () => {
  it('records the boot time like `date --utc --iso-8601=seconds` and keeps the first one of the boot', async () => {
    const markerDir = join(dir, 'taupage-init-ran');
    expect(await readBootTime(markerDir)).toBeUndefined();
    const first = await writeBootMarker(Date.parse('2024-05-01T12:34:56.789Z'), markerDir);
    expect(first).toEqual({ bootTime: '2024-05-01T12:34:56+00:00', written: true });
    expect(await readFile(join(markerDir, 'date'), 'utf8')).toBe('2024-05-01T12:34:56+00:00\n');
    const again = await writeBootMarker(Date.parse('2024-05-01T13:00:00Z'), markerDir);
    expect(again).toEqual({ bootTime: '2024-05-01T12:34:56+00:00', written: false });
    expect(await readBootTime(markerDir)).toBe('2024-05-01T12:34:56+00:00');
  });
});

describe('rt_tables', () => {
  it('gets `150 https` once, however often the boot runs', async () => {
    const path = join(dir, 'rt_tables');
    await writeFile(path, '255\tlocal\n254\tmain');
    await ensureRouteTableName(path);
    await ensureRouteTableName(path);
    expect(await readFile(path, 'utf8')).toBe('255\tlocal\n254\tmain\n150\thttps\n');
  });
});
