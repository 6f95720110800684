import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeUserData } from '../../../src/config/user-data.js';
import { TaupageError } from '../../../src/core/errors.js';

describe('decodeUserData', () => {
  it('recognises the #taupage-ami-config header and keeps it as a YAML comment', () => {
    const decoded = decodeUserData(Buffer.from('#taupage-ami-config\nruntime: Docker\n'));
    expect(decoded).toEqual({
      yaml: '#taupage-ami-config\nruntime: Docker\n',
      compressed: false,
      hadHeader: true,
      lineOffset: 0,
      notes: [],
    });
  });

  it('accepts gzip-compressed user data', () => {
    const decoded = decodeUserData(gzipSync('#taupage-ami-config\nsource: a.b/c/d:1\n'));
    expect(decoded.compressed).toBe(true);
    expect(decoded.yaml).toBe('#taupage-ami-config\nsource: a.b/c/d:1\n');
  });

  it('reads YAML without the header, noting that it was missing', () => {
    expect(decodeUserData(Buffer.from('runtime: Docker\n')).hadHeader).toBe(false);
  });

  it.each([
    ['#cloud-config\npackages: [nginx]\n', 'cloud-init #cloud-config'],
    ['#!/bin/bash\necho hi\n', 'shell script'],
    ['Content-Type: multipart/mixed; boundary="x"\n', 'MIME multipart'],
  ])('names the foreign user-data format %#', (text, name) => {
    expect(() => decodeUserData(Buffer.from(text))).toThrow(name);
  });

  it('rejects corrupt gzip with USER_DATA_INVALID', () => {
    const broken = gzipSync('runtime: Docker\n').subarray(0, 12);
    expect(() => decodeUserData(broken)).toThrow(TaupageError);
    expect(() => decodeUserData(broken)).toThrow(/cannot be decompressed/);
  });

  it('rejects bytes that are not UTF-8', () => {
    expect(() => decodeUserData(Buffer.from([0xff, 0xfe, 0x00, 0x41]))).toThrow(/neither UTF-8/);
  });
});
