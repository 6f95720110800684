import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hostBootStartedAt } from '../../../src/lifecycle/host-boot-marker.js';

// The boot tells an agent restart (the app exited after this time: leave a finished batch job
// alone) from a reboot (start it again). When the marker cannot be kept, the answer must not
// fall over to "a reboot": that would run a finished job a second time.

const KERNEL_BOOT = Date.parse('2026-01-01T00:00:00Z');
const NOW = Date.parse('2026-01-01T01:00:00Z');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-boot-marker-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

describe('hostBootStartedAt', () => {
  it('the first start of a host boot marks it; a restart reads the first time back', async () => {
    const marker = join(dir, 'run');
    expect(await hostBootStartedAt(marker, NOW, { kernelBootedAt: () => KERNEL_BOOT })).toBe(NOW);
    expect(await hostBootStartedAt(marker, NOW + 60_000, { kernelBootedAt: () => KERNEL_BOOT })).toBe(NOW);
  });

  it('a marker that cannot be written falls back to the kernel boot time (not "a reboot just now"), with a warning', async () => {
    const blocked = join(dir, 'not-a-dir');
    await writeFile(blocked, 'a file where the marker directory should be');
    const { log, lines } = recordingLog();
    expect(
      await hostBootStartedAt(join(blocked, 'run'), NOW, { kernelBootedAt: () => KERNEL_BOOT, log }),
    ).toBe(KERNEL_BOOT);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'Cannot keep the host boot marker; using the kernel boot time',
      }),
    ]);
  });

  it('an empty or garbled marker (a crash while writing it) falls back to the kernel boot time', async () => {
    for (const content of ['', 'not a date\n']) {
      const marker = join(dir, `garbled-${content.length}`);
      await import('node:fs/promises').then((fs) => fs.mkdir(marker));
      await writeFile(join(marker, 'date'), content);
      const { log, lines } = recordingLog();
      expect(await hostBootStartedAt(marker, NOW, { kernelBootedAt: () => KERNEL_BOOT, log })).toBe(
        KERNEL_BOOT,
      );
      expect(lines.map((line) => line.msg)).toEqual([
        'Host boot marker unreadable; using the kernel boot time',
      ]);
    }
  });
});
