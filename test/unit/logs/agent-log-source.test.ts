import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import { AgentLogSource } from '../../../src/logs/agent-log-source.js';
import type { CheckpointValue, LineSink, SourceCheckpoint } from '../../../src/logs/log-record.js';
import { eventually } from '../../support/test-env.js';

/** A LineSink that keeps what it gets; `full` makes writeLine report backpressure. */
class RecordingSink implements LineSink {
  readonly lines: { text: string; timestamp: number }[] = [];
  full = false;
  #drainers: (() => void)[] = [];

  writeLine(line: Buffer | string, timestamp: number, _checkpoint?: SourceCheckpoint): boolean {
    this.lines.push({ text: line.toString(), timestamp });
    return !this.full;
  }
  drained(): Promise<void> {
    if (!this.full) return Promise.resolve();
    return new Promise((resolve) => this.#drainers.push(resolve));
  }
  drain(): void {
    this.full = false;
    for (const resolve of this.#drainers.splice(0)) resolve();
  }
  setCheckpoint(): void {
    // the agent log has no checkpoints
  }
  checkpoint(): CheckpointValue | undefined {
    return undefined;
  }
  texts(): string[] {
    return this.lines.map((line) => line.text);
  }
}

function capture(): { destination: Writable; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { destination, lines };
}

describe('AgentLogSource: the agent log as a log source', () => {
  it('keeps the lines logged before the pipeline starts, with the time they were logged, then ships live lines', async () => {
    let now = 1_000;
    const source = new AgentLogSource({ now: () => now });
    source.write('{"msg":"imds"}\n');
    now = 2_000;
    source.write('{"msg":"config"}\n');
    expect(source.status()).toMatchObject({ state: 'buffering', queuedLines: 2, droppedLines: 0 });

    const sink = new RecordingSink();
    const abort = new AbortController();
    const running = source.run(sink, abort.signal);
    expect(sink.lines).toEqual([
      { text: '{"msg":"imds"}', timestamp: 1_000 },
      { text: '{"msg":"config"}', timestamp: 2_000 },
    ]);
    now = 3_000;
    source.write('{"msg":"live"}\n');
    await eventually(() => Promise.resolve(sink.lines.length === 3 ? true : undefined), 'the live line');
    expect(sink.lines[2]).toEqual({ text: '{"msg":"live"}', timestamp: 3_000 });
    expect(source.status()).toMatchObject({ state: 'shipping', queuedLines: 0 });
    abort.abort();
    await running;
  });

  it('keeps only the newest lines when the buffer is full and reports the dropped count where the gap is', async () => {
    const source = new AgentLogSource({ maxLines: 5, now: () => 7 });
    for (let i = 0; i < 8; i++) source.write(`line ${String(i)}\n`);
    expect(source.status()).toMatchObject({ queuedLines: 5, droppedLines: 3 });

    const sink = new RecordingSink();
    const abort = new AbortController();
    const running = source.run(sink, abort.signal);
    const [warning, ...rest] = sink.texts();
    expect(rest).toEqual(['line 3', 'line 4', 'line 5', 'line 6', 'line 7']);
    expect(JSON.parse(warning ?? '')).toMatchObject({
      level: 'warn',
      service: 'taupage',
      source: 'taupage',
      droppedLines: 3,
      droppedTotal: 3,
      msg: expect.stringMatching(/^Dropped 3 lines of taupage's own log here/) as unknown,
    });
    expect(sink.lines[0]?.timestamp).toBe(7);
    abort.abort();
    await running;
  });

  it('bounds the buffer in bytes too, and drops a single line larger than the bound', async () => {
    const source = new AgentLogSource({ maxBytes: 100 });
    const line = (char: string): string => `${char.repeat(40)}\n`;
    source.write(line('a'));
    source.write(line('b'));
    source.write(line('c')); // 120 bytes: "a" goes
    source.write(`${'x'.repeat(101)}\n`); // never fits
    expect(source.status()).toMatchObject({ queuedLines: 2, queuedBytes: 80, droppedLines: 2 });
    const sink = new RecordingSink();
    const abort = new AbortController();
    const running = source.run(sink, abort.signal);
    expect(sink.texts().slice(1)).toEqual(['b'.repeat(40), 'c'.repeat(40)]);
    expect(JSON.parse(sink.texts()[0] ?? '')).toMatchObject({ droppedLines: 2 });
    abort.abort();
    await running;
  });

  it('keeps memory bounded while the pipeline applies backpressure, and reports the loss once it drains', async () => {
    const source = new AgentLogSource({ maxLines: 10 });
    const sink = new RecordingSink();
    sink.full = true;
    const abort = new AbortController();
    const running = source.run(sink, abort.signal);
    source.write('first\n');
    await eventually(() => Promise.resolve(sink.lines.length === 1 ? true : undefined), 'the first line');
    for (let i = 0; i < 1_000; i++) source.write(`burst ${String(i)}\n`);
    expect(source.status()).toMatchObject({ queuedLines: 10, droppedLines: 990 });
    sink.drain();
    await eventually(() => Promise.resolve(sink.lines.length === 12 ? true : undefined), 'the rest');
    expect(JSON.parse(sink.texts()[1] ?? '')).toMatchObject({ droppedLines: 990 });
    expect(sink.texts().slice(2)).toEqual(Array.from({ length: 10 }, (_, i) => `burst ${String(990 + i)}`));
    abort.abort();
    await running;
  });

  it('hands everything queued to the sink when the pipeline stops it, despite backpressure', async () => {
    const source = new AgentLogSource();
    const sink = new RecordingSink();
    sink.full = true;
    const abort = new AbortController();
    const running = source.run(sink, abort.signal);
    source.write('one\n');
    await eventually(() => Promise.resolve(sink.lines.length === 1 ? true : undefined), 'the first line');
    source.write('two\n');
    source.write('three\n');
    abort.abort();
    // Synchronously, before the pipeline flushes its spool.
    expect(sink.texts()).toEqual(['one', 'two', 'three']);
    await running;
    source.write('after the stop\n');
    expect(source.status()).toMatchObject({ state: 'buffering', queuedLines: 1 });
  });

  it('forgets the buffer and keeps nothing once the pipeline does not want it', async () => {
    const source = new AgentLogSource();
    source.write('boot line\n');
    source.stopBuffering();
    for (let i = 0; i < 10_000; i++) source.write(`line ${String(i)}\n`);
    expect(source.status()).toEqual({ state: 'off', queuedLines: 0, queuedBytes: 0, droppedLines: 0 });
    const sink = new RecordingSink();
    await source.run(sink, new AbortController().signal);
    expect(sink.lines).toEqual([]);
  });
});

describe('createLogger with a tee', () => {
  it('writes the same scrubbed lines to stdout and the agent log, at the logger level', async () => {
    const redactor = new Redactor();
    const { destination, lines } = capture();
    const source = new AgentLogSource();
    const log = createLogger({ level: 'debug', redactor, destination, tee: source });
    redactor.register('s3cr3t-plaintext-value');
    log.child({ component: 'kms' }).info({ detail: 'got s3cr3t-plaintext-value' }, 'Decrypted');
    log.debug('a debug line');
    log.trace('below the level');

    const sink = new RecordingSink();
    const abort = new AbortController();
    const running = source.run(sink, abort.signal);
    expect(sink.texts()).toEqual(lines.map((line) => line.replace(/\n$/, '')));
    expect(sink.lines).toHaveLength(2);
    const first = JSON.parse(sink.texts()[0] ?? '') as Record<string, unknown>;
    expect(first).toMatchObject({ level: 'info', component: 'kms', msg: 'Decrypted', service: 'taupage' });
    expect(sink.texts().join('\n')).not.toContain('s3cr3t-plaintext-value');
    expect(sink.texts().join('\n')).toContain('[redacted]');
    expect(JSON.parse(sink.texts()[1] ?? '')).toMatchObject({ level: 'debug', msg: 'a debug line' });
    abort.abort();
    await running;
  });
});
