import { describe, expect, it } from 'vitest';
import { formatPath, parseYamlDocument, YamlSyntaxError } from '../../../src/config/yaml-document.js';

const text = `runtime: Docker
source: "a.example.org/team/app:1.0"
ports:
  8080: 8080
  9000/udp: 9000
environment:
  EMPTY:
  LIST: [1, 2]
flag: yes
version: 1.10
mounts:
  /data:
    partition: /dev/xvdf
`;

describe('parseYamlDocument', () => {
  it('reads YAML 1.1 like PyYAML (yes is true, 1.10 is 1.1)', () => {
    const { value } = parseYamlDocument(text);
    expect(value).toMatchObject({ flag: true, version: 1.1, ports: { '8080': 8080, '9000/udp': 9000 } });
  });

  it('locates keys and values by path', () => {
    const document = parseYamlDocument(text);
    expect(document.positionOf(['ports', '8080'], 'key')).toEqual({ line: 4, column: 3 });
    expect(document.positionOf(['ports', '9000/udp'], 'value')).toEqual({ line: 5, column: 13 });
    expect(document.positionOf(['environment', 'LIST', 1])).toEqual({ line: 8, column: 13 });
    expect(document.positionOf(['mounts', '/data', 'partition'], 'key')).toEqual({ line: 13, column: 5 });
    expect(document.positionOf(['flag'], 'key')).toEqual({ line: 9, column: 1 });
    expect(document.positionOf(['missing'])).toBeUndefined();
  });

  it('locates a key with an empty value', () => {
    expect(parseYamlDocument(text).positionOf(['environment', 'EMPTY'], 'key')).toEqual({
      line: 7,
      column: 3,
    });
  });

  it('reports syntax errors with line and column', () => {
    try {
      parseYamlDocument('a: [1\nb: 2\n');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(YamlSyntaxError);
      expect((error as YamlSyntaxError).position?.line).toBe(2);
    }
  });

  it('rejects several documents', () => {
    expect(() => parseYamlDocument('a: 1\n---\nb: 2\n')).toThrow(/one YAML document/);
  });

  it('formats paths with dots and indexes', () => {
    expect(formatPath(['SenzaComponents', 1, 'AppServer', 'TaupageConfig', 'ports'])).toBe(
      'SenzaComponents[1].AppServer.TaupageConfig.ports',
    );
    expect(formatPath([])).toBe('(root)');
  });
});
