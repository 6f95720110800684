import { inspect } from 'node:util';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/core/logger.js';
import { Redactor } from '../../../src/core/redactor.js';
import { Secret } from '../../../src/core/secret.js';

describe('Secret', () => {
  it('shows [redacted] however it is printed', () => {
    const secret = new Secret('hunter2-plaintext');
    expect(String(secret)).toBe('[redacted]');
    expect(JSON.stringify({ secret })).toBe('{"secret":"[redacted]"}');
    expect(inspect({ secret })).not.toContain('hunter2');
    expect(secret.reveal()).toBe('hunter2-plaintext');
  });
});

describe('Redactor and logger', () => {
  it('scrubs registered plaintexts, raw and JSON-escaped, from every log line', () => {
    const redactor = new Redactor();
    redactor.register('hunter2-plaintext');
    redactor.register('with"quote\\and-backslash');
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const log = createLogger({ redactor, destination });
    log.error({ err: new Error('docker said: hunter2-plaintext') }, 'failed with with"quote\\and-backslash');
    const output = lines.join('');
    expect(output).toContain('[redacted]');
    expect(output).not.toContain('hunter2');
    expect(output).not.toContain('backslash');
  });

  it('ignores values too short to scrub safely', () => {
    const redactor = new Redactor();
    redactor.register('on');
    expect(redactor.scrub('container on')).toBe('container on');
  });
});
