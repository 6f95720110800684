import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { dump } from 'js-yaml';
import writeFileAtomic from 'write-file-atomic';

/**
 * Writes the merged config to `<metaDir>/taupage.yaml` atomically (temp file + rename), for
 * tools on the host and in the container (/meta is mounted read-only). It holds exactly what the
 * user data said — aws:kms: values stay ciphertexts; plaintext never reaches the disk.
 * Mode 0640: readable by root and the `application` group, not by every host user as the
 * original's 0444 was.
 */
export async function writeMetaConfig(
  metaDir: string,
  merged: unknown,
  groupId: number | undefined,
): Promise<string> {
  await mkdir(metaDir, { recursive: true, mode: 0o755 });
  const path = join(metaDir, 'taupage.yaml');
  const text = `# Written by taupage at boot: user data merged onto the AMI defaults.\n${dump(merged, { sortKeys: true })}`;
  const canChown = process.getuid?.() === 0 && groupId !== undefined;
  await writeFileAtomic(path, text, {
    mode: 0o640,
    fsync: true,
    ...(canChown ? { chown: { uid: 0, gid: groupId } } : {}),
  });
  return path;
}
