import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { agentNodePath } from '../../../scripts/agent-node.mjs';

// releaseBuffer needs ArrayBuffer.prototype.transfer (ES2024): it runs here on the agent's
// Node.js (the pinned one, which strips the module's types), not on the one running vitest.
const MODULE = fileURLToPath(new URL('../../../src/logs/release-buffer.ts', import.meta.url));

function onAgentNode(script: string): unknown {
  const source = `import { releaseBuffer } from ${JSON.stringify(MODULE)};\n${script}`;
  const out = execFileSync(agentNodePath(), ['--no-warnings', '--input-type=module', '-e', source], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as unknown;
}

describe('releaseBuffer (on the agent’s Node.js)', () => {
  it('frees a large buffer that owns its memory, given a view of its start: every view is empty after', () => {
    const result = onAgentNode(`
      const before = process.memoryUsage().arrayBuffers;
      const body = Buffer.allocUnsafe(8 * 1024 * 1024);
      const view = body.subarray(0, 1000);
      releaseBuffer(view);
      releaseBuffer(body); // twice: nothing more happens
      const freed = before + 8 * 1024 * 1024 - process.memoryUsage().arrayBuffers;
      console.log(JSON.stringify({ body: body.length, view: view.length, freedMiB: Math.round(freed / 1048576) }));
    `);
    expect(result).toEqual({ body: 0, view: 0, freedMiB: 8 });
  });

  it('leaves Node’s shared pool alone: a small buffer at the pool’s start, and a view that does not start its memory', () => {
    const result = onAgentNode(`
      // A small buffer comes from the pool; one that starts a new pool has byteOffset 0.
      let first = Buffer.allocUnsafe(4000);
      while (first.byteOffset !== 0) first = Buffer.allocUnsafe(4000);
      first.write('first');
      const neighbour = Buffer.from('in the same pool');
      releaseBuffer(first);
      const big = Buffer.alloc(64 * 1024, 0x61);
      const inner = big.subarray(1, 10);
      releaseBuffer(inner);
      console.log(JSON.stringify([first.toString('utf8', 0, 5), neighbour.toString(), big.length, inner.toString()]));
    `);
    expect(result).toEqual(['first', 'in the same pool', 64 * 1024, 'aaaaaaaaa']);
  });
});
