import { describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/core/redactor.js';
import { LineAssembler, utf8Boundary } from '../../../src/logs/line-assembler.js';
import {
  JWT_REDACTED,
  MAX_MESSAGE_BYTES,
  prepareMessages,
  splitUtf8,
} from '../../../src/logs/log-message.js';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('prepareMessages', () => {
  it('masks JWT-looking tokens when asked (application and custom logs)', () => {
    const line = `GET /api Authorization: Bearer ${JWT} 200`;
    expect(prepareMessages(line, { redactor: new Redactor(), maskJwt: true })).toEqual([
      `GET /api Authorization: Bearer ${JWT_REDACTED} 200`,
    ]);
    expect(prepareMessages(line, { redactor: new Redactor(), maskJwt: false })).toEqual([line]);
  });

  it('scrubs registered secrets', () => {
    const redactor = new Redactor();
    redactor.register('hunter2-very-secret');
    expect(prepareMessages('pw=hunter2-very-secret;', { redactor, maskJwt: false })).toEqual([
      'pw=[redacted];',
    ]);
  });

  it('replaces invalid UTF-8 with U+FFFD', () => {
    const [message] = prepareMessages(Buffer.from([0x61, 0xff, 0x62, 0xe2, 0x82]), {
      redactor: new Redactor(),
      maskJwt: false,
    });
    expect(message).toBe('a\uFFFDb\uFFFD');
  });

  it('splits a line over the event limit into pieces of at most 1,048,550 bytes', () => {
    const pieces = prepareMessages('y'.repeat(2 * 1024 * 1024), { redactor: new Redactor(), maskJwt: false });
    expect(pieces.map((p) => p.length)).toEqual([
      MAX_MESSAGE_BYTES,
      MAX_MESSAGE_BYTES,
      2 * 1024 * 1024 - 2 * MAX_MESSAGE_BYTES,
    ]);
  });
});

describe('splitUtf8 and LineAssembler', () => {
  it('never splits inside a character', () => {
    const text = 'aé€😀'.repeat(50);
    for (const max of [4, 5, 7, 10]) {
      const pieces = splitUtf8(text, max);
      expect(pieces.join('')).toBe(text);
      for (const piece of pieces) expect(Buffer.byteLength(piece)).toBeLessThanOrEqual(max);
      expect(pieces.some((p) => p.includes('\uFFFD'))).toBe(false);
    }
  });

  it('cuts buffers on character boundaries', () => {
    const buffer = Buffer.from('aa€'); // 61 61 e2 82 ac
    expect(utf8Boundary(buffer, 3)).toBe(2);
    expect(utf8Boundary(buffer, 2)).toBe(2);
  });

  it('hands out event-sized pieces as a long line arrives, and the rest at its end', () => {
    const assembler = new LineAssembler(10);
    expect(assembler.push(Buffer.from('abcdef'))).toEqual([]);
    expect(assembler.push(Buffer.from('ghijklmnopqrstuvw')).map(String)).toEqual([
      'abcdefghij',
      'klmnopqrst',
    ]);
    expect(assembler.bytes).toBe(3);
    expect(String(assembler.finish(Buffer.from('xyz')))).toBe('uvwxyz');
    expect(assembler.bytes).toBe(0);
  });
});
