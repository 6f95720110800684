import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/program.js';
import type { Clock } from '../../../src/core/clock.js';
import { GENESIS_HASH } from '../../../src/audit/audit-event.js';
import { AuditTrail } from '../../../src/audit/audit-trail.js';
import { verifyAuditChain } from '../../../src/audit/verify-audit-chain.js';

let dir: string;
let file: string;
let now = Date.parse('2026-11-21T23:00:00.000Z');
const clock: Clock = { now: () => now, sleep: () => Promise.resolve() };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-audit-unit-'));
  file = join(dir, 'audit.jsonl');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function trailOf(count: number): Promise<string[]> {
  const trail = new AuditTrail({ file, clock, bootId: 'boot-a', instanceId: 'i-1' });
  for (let i = 0; i < count; i++) {
    now += 1_000;
    await trail.record('ssh.grant', { user: `user${i}` });
  }
  return (await readFile(file, 'utf8')).trim().split('\n');
}

async function verify(text: string) {
  await writeFile(join(dir, 'check.jsonl'), text);
  let stdout = '';
  let stderr = '';
  const code = await runCli(['audit', 'verify', join(dir, 'check.jsonl')], {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  });
  return { code, stdout, stderr };
}

describe('the hash-chained audit trail', () => {
  it('writes JSON lines with UTC time, instance, boot, sequence and the previous hash', async () => {
    const lines = await trailOf(3);
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(events[0]).toMatchObject({
      v: 1,
      ts: '2026-11-21T23:00:01.000Z',
      instanceId: 'i-1',
      bootId: 'boot-a',
      type: 'ssh.grant',
      prev: GENESIS_HASH,
    });
    expect(events[1]?.prev).toBe(events[0]?.hash);
    expect(verifyAuditChain(`${lines.join('\n')}\n`)).toMatchObject({
      ok: true,
      events: 3,
      firstSeq: 1,
      lastSeq: 3,
    });
  });

  it('continues the chain across restarts and carries the instance id on', async () => {
    await trailOf(2);
    const restarted = new AuditTrail({ file, clock, bootId: 'boot-b' });
    const event = await restarted.record('agent.boot', {});
    expect(event).toMatchObject({ seq: 3, instanceId: 'i-1', bootId: 'boot-b' });
    expect(verifyAuditChain(await readFile(file, 'utf8')).ok).toBe(true);
  });

  it('continues the chain in a new file after rotation', async () => {
    const { rename } = await import('node:fs/promises');
    const lines = await trailOf(2);
    await rename(file, `${file}.1`);
    const event = await new AuditTrail({ file, clock, bootId: 'boot-a' }).record('agent.boot', {});
    expect(event.seq).toBe(3);
    expect(event.prev).toBe((JSON.parse(lines[1] ?? '') as { hash: string }).hash);
    const rotated = await readFile(file, 'utf8');
    expect(verifyAuditChain(rotated, { allowRotated: true }).ok).toBe(true);
    expect(verifyAuditChain(`${lines.join('\n')}\n${rotated}`).ok).toBe(true);
  });

  it('`taupage audit verify` accepts an intact trail', async () => {
    const lines = await trailOf(4);
    const result = await verify(`${lines.join('\n')}\n`);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^OK: 4 events, seq 1\.\.4/);
  });

  it('detects a deleted line and names where', async () => {
    const lines = await trailOf(5);
    const result = await verify(`${[...lines.slice(0, 2), ...lines.slice(3)].join('\n')}\n`);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('line 3 (seq 4): 1 line(s) deleted before it (expected seq 3)');
    expect(result.stderr).toContain('AUDIT_CHAIN_BROKEN');
  });

  it('detects an edited line, even when its hash is recomputed (the next line no longer links)', async () => {
    const lines = await trailOf(4);
    const edited = lines.map((l, i) => (i === 1 ? l.replace('user1', 'mallory') : l));
    expect((await verify(`${edited.join('\n')}\n`)).stdout).toContain('line 2 (seq 2): edited');
    // A careful forger fixes line 2's hash: then line 3's link breaks.
    const { createHash } = await import('node:crypto');
    const forged = JSON.parse(edited[1] ?? '') as Record<string, unknown>;
    delete forged.hash;
    forged.hash = createHash('sha256').update(JSON.stringify(forged)).digest('hex');
    const reforged = [lines[0], JSON.stringify(forged), lines[2], lines[3]];
    const result = await verify(`${reforged.join('\n')}\n`);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('line 3 (seq 3)');
  });

  it('detects a deleted first line, reordering and garbage', async () => {
    const lines = await trailOf(3);
    expect((await verify(`${lines.slice(1).join('\n')}\n`)).stdout).toContain('starts at seq 2');
    expect(
      verifyAuditChain(`${[lines[0], lines[2], lines[1]].join('\n')}\n`).problems.map((p) => p.kind),
    ).toContain('reordered');
    expect(verifyAuditChain(`${lines[0] ?? ''}\nnot json\n`).problems[0]?.kind).toBe('not-json');
  });
});
