import { describe, expect, it } from 'vitest';
import { mutableTagReason, parseImageReference } from '../../../src/config/image-reference.js';

describe('parseImageReference', () => {
  it.each([
    [
      'pierone.stups.zalan.do/teapot/kio:1.0',
      { registry: 'pierone.stups.zalan.do', repository: 'teapot/kio', tag: '1.0' },
    ],
    ['localhost:5000/team/app:1.0', { registry: 'localhost:5000', repository: 'team/app', tag: '1.0' }],
    [
      '127.0.0.1:5000/taupage-test/httpd:1.0',
      { registry: '127.0.0.1:5000', repository: 'taupage-test/httpd', tag: '1.0' },
    ],
    ['registry.example.org/a/b/c:2', { registry: 'registry.example.org', repository: 'a/b/c', tag: '2' }],
  ])('parses %s', (source, expected) => {
    const result = parseImageReference(source);
    expect(result.ok && result.reference).toMatchObject(expected);
  });

  it('parses digests', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const result = parseImageReference(`r.example.org/o/n@${digest}`);
    expect(result.ok && result.reference).toMatchObject({ repository: 'o/n', tag: undefined, digest });
  });

  it.each([
    ['nginx:1.2.3', { registry: 'docker.io', repository: 'library/nginx', tag: '1.2.3' }],
    ['foo/nginx:1.2.3', { registry: 'docker.io', repository: 'foo/nginx', tag: '1.2.3' }],
  ])('reads %s as a Docker Hub image, noting that it named no registry', (source, expected) => {
    const result = parseImageReference(source);
    expect(result.ok && result.reference).toMatchObject(expected);
    expect(result.ok && result.implicitRegistry).toBe(true);
  });

  it.each([
    ['r.example.org/UPPER/app:1', /invalid repository/],
    ['r.example.org/o/n:bad tag', /invalid tag/],
    ['r.example.org/o/n@sha256:abc', /invalid digest/],
    ['', /empty/],
  ])('rejects %j', (source, message) => {
    const result = parseImageReference(source);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toMatch(message);
  });
});

describe('mutableTagReason', () => {
  const reason = (source: string) => {
    const result = parseImageReference(source);
    if (!result.ok) throw new Error(result.message);
    return mutableTagReason(result.reference);
  };

  it.each(['r.io/o/n:latest', 'r.io/o/n:1.0-SNAPSHOT', 'r.io/o/n:1.0-snapshot', 'r.io/o/n'])(
    'rejects %s',
    (source) => {
      expect(reason(source)).toBeDefined();
    },
  );

  it('accepts versions and digests', () => {
    expect(reason('r.io/o/n:1.0.3')).toBeUndefined();
    expect(reason(`r.io/o/n@sha256:${'b'.repeat(64)}`)).toBeUndefined();
  });
});
