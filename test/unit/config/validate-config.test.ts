import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';

const base = '#taupage-ami-config\nruntime: Docker\nsource: registry.example.org/team/app:1.0\n';

function validate(extra: string, defaults: Record<string, unknown> = {}) {
  return loadConfig(Buffer.from(base + extra), defaults).validation;
}

describe('validateConfig', () => {
  it('builds the typed config from a minimal TaupageConfig', () => {
    const { config, errors } = validate('application_id: kio\napplication_version: "1.0"\n');
    expect(errors).toEqual([]);
    expect(config).toMatchObject({
      runtime: 'Docker',
      source: { registry: 'registry.example.org', repository: 'team/app', tag: '1.0' },
      applicationId: 'kio',
      applicationVersion: '1.0',
      root: false,
      ports: [],
      healthCheck: undefined,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads ports with protocols and picks the lowest TCP port for the health check', () => {
    const { config, errors } = validate(
      'ports:\n  9000/udp: 9000\n  8081: "8081"\n  8080: 8080/tcp\nhealth_check_path: /health\n',
    );
    expect(errors).toEqual([]);
    expect(config?.ports).toEqual([
      { hostPort: 8080, containerPort: 8080, protocol: 'tcp' },
      { hostPort: 8081, containerPort: 8081, protocol: 'tcp' },
      { hostPort: 9000, containerPort: 9000, protocol: 'udp' },
    ]);
    expect(config?.healthCheck).toEqual({ path: '/health', port: 8080, timeoutSeconds: 60 });
  });

  it('reports every error at once, each with its path and line', () => {
    const { config, errors } = validate(
      'ports:\n  abc: 80\n  8080: 8600/xyz\nroot: maybe\nhealth_check_port: 70000\n',
    );
    expect(config).toBeUndefined();
    expect(errors).toEqual([
      expect.objectContaining({
        path: 'ports.abc',
        line: 5,
        message: expect.stringMatching(/host port/) as unknown,
      }),
      expect.objectContaining({
        path: 'ports.8080',
        line: 6,
        message: expect.stringMatching(/8600\/xyz/) as unknown,
      }),
      expect.objectContaining({
        path: 'root',
        line: 7,
        message: 'expected true or false (or yes/no, on/off, 1/0), found "maybe"',
      }),
      expect.objectContaining({ path: 'health_check_port', line: 8 }),
    ]);
  });

  it('reads a protocol one typo away (the docs example 8600/upd) as that protocol, with a warning', () => {
    const { config, warnings } = validate('ports:\n  8600: 8600/upd\n');
    expect(config?.ports).toEqual([{ hostPort: 8600, containerPort: 8600, protocol: 'udp' }]);
    expect(warnings).toEqual([
      expect.objectContaining({ path: 'ports.8600', message: 'read the protocol "upd" as "udp" (a typo?)' }),
    ]);
  });

  it('requires source and runtime', () => {
    const { errors } = loadConfig(Buffer.from('application_id: kio\n'), {}).validation;
    expect(errors.map((error) => error.path)).toEqual(['runtime', 'source']);
  });

  it.each([
    ['registry.example.org/team/app:latest', /latest/],
    ['registry.example.org/team/app:2.0-SNAPSHOT', /SNAPSHOT/],
    ['registry.example.org/team/app', /no tag/],
    ['app', /no tag/],
  ])('rejects the image %s', (source, message) => {
    const { errors } = loadConfig(Buffer.from(`runtime: Docker\nsource: ${source}\n`), {}).validation;
    expect(errors).toEqual([
      expect.objectContaining({ path: 'source', message: expect.stringMatching(message) as unknown }),
    ]);
  });

  it('accepts a Docker Hub image (which the original refused) with a warning', () => {
    const { config, errors, warnings } = loadConfig(
      Buffer.from('#taupage-ami-config\nruntime: Docker\nsource: stups/hello-world:1.0\n'),
      {},
    ).validation;
    expect(errors).toEqual([]);
    expect(config?.source).toEqual({
      registry: 'docker.io',
      repository: 'stups/hello-world',
      tag: '1.0',
      digest: undefined,
    });
    expect(warnings).toEqual([
      expect.objectContaining({
        path: 'source',
        message: expect.stringMatching(/names no registry/) as unknown,
      }),
    ]);
  });

  it('keeps aws:kms: values as ciphertexts and checks their base64', () => {
    const ciphertext = Buffer.from('opaque-ciphertext-bytes').toString('base64');
    const { config } = validate(
      `environment:\n  DB_PASSWORD: "aws:kms:${ciphertext}"\n  PLAIN: 42\n  FLAG: true\n`,
    );
    expect(config?.environment).toEqual([
      { name: 'DB_PASSWORD', value: { kind: 'encrypted', ciphertext: Buffer.from(ciphertext, 'base64') } },
      { name: 'PLAIN', value: { kind: 'plain', value: '42' } },
      { name: 'FLAG', value: { kind: 'plain', value: 'True' } },
    ]);
    const bad = validate('environment:\n  DB_PASSWORD: "aws:kms:not base64!!"\n');
    expect(bad.errors).toEqual([expect.objectContaining({ path: 'environment.DB_PASSWORD', line: 5 })]);
    expect(JSON.stringify(bad.errors)).not.toContain('not base64!!');
  });

  it('passes YAML booleans in environment as Python printed them (True/False), quoted text as written', () => {
    const { config } = validate(
      'environment:\n  IS_ON: true\n  IS_OFF: no\n  CAPS: True\n  QUOTED: "true"\n  WORD: "yes"\n',
    );
    expect(config?.environment.map(({ name, value }) => [name, value])).toEqual([
      ['IS_ON', { kind: 'plain', value: 'True' }],
      ['IS_OFF', { kind: 'plain', value: 'False' }],
      ['CAPS', { kind: 'plain', value: 'True' }],
      ['QUOTED', { kind: 'plain', value: 'true' }],
      ['WORD', { kind: 'plain', value: 'yes' }],
    ]);
  });

  it('rejects a list where the environment map belongs, without crashing', () => {
    const { errors } = validate('environment:\n  - A=1\n');
    expect(errors).toEqual([
      expect.objectContaining({
        path: 'environment',
        message: expect.stringMatching(/a list of 1 item/) as unknown,
      }),
    ]);
  });

  it('never echoes the value of a secret-looking key', () => {
    const { errors } = validate('environment:\n  API_TOKEN:\n    nested: hunter2-secret\n');
    expect(JSON.stringify(errors)).not.toContain('hunter2');
  });

  it('warns about a version YAML read as a number', () => {
    const { config, warnings } = validate('application_version: 1.10\n');
    expect(config?.applicationVersion).toBe('1.1');
    expect(warnings).toEqual([
      expect.objectContaining({
        path: 'application_version',
        message: expect.stringMatching(/quote it/) as unknown,
      }),
    ]);
  });

  it('warns about unknown and renamed keys; encryption_context is read, not warned about', () => {
    const { errors, warnings } = validate(
      'hystrix: ":7979/hystrix.stream"\nreadonly: true\nencryption_context:\n  app: kio\n',
    );
    expect(errors).toEqual([]);
    expect(warnings.map((warning) => [warning.path, warning.message])).toEqual([
      ['hystrix', 'is not a TaupageConfig key; ignored'],
      ['readonly', 'was renamed to read_only; this spelling is ignored'],
    ]);
  });

  it('replaces AMI default keys entirely (shallow merge)', () => {
    const { merged } = loadConfig(Buffer.from(`${base}root: true\n`), {
      root: false,
      notify_cfn: { stack: 's' },
    });
    expect(merged).toMatchObject({ root: true, notify_cfn: { stack: 's' } });
  });

  it('replaces AMI default keys entirely, but merges logging key by key (the site’s destinations stay)', () => {
    const defaults = {
      notify_cfn: { stack: 's', resource: 'r' },
      logging: { s3_bucket: 'corp-logs', s3_region: 'eu-west-1', log_destination: 's3' },
    };
    const { merged, validation } = loadConfig(
      Buffer.from(
        `${base}notify_cfn: {stack: mine}\nlogging:\n  applog_destination: none\n  s3_region: eu-central-1\n`,
      ),
      defaults,
    );
    expect(merged).toMatchObject({
      notify_cfn: { stack: 'mine' },
      logging: {
        s3_bucket: 'corp-logs',
        s3_region: 'eu-central-1',
        log_destination: 's3',
        applog_destination: 'none',
      },
    });
    expect((merged as { notify_cfn: object }).notify_cfn).toEqual({ stack: 'mine' });
    // The default's resource did not survive: half a notify_cfn is an error.
    expect(validation.errors.map((error) => error.path)).toEqual(['notify_cfn']);
    const logging = loadConfig(
      Buffer.from(`${base}logging:\n  applog_destination: none\n  s3_region: eu-central-1\n`),
      defaults,
    ).validation;
    expect(logging.config?.logging?.s3Bucket).toBe('corp-logs');
    expect(defaults.logging).toEqual({
      s3_bucket: 'corp-logs',
      s3_region: 'eu-west-1',
      log_destination: 's3',
    });
  });

  it('reads dockercfg basic auth per registry host', () => {
    const auth = Buffer.from('robot:s3cret').toString('base64');
    const { config } = validate(
      `dockercfg:\n  https://registry.example.org/v1/:\n    auth: ${auth}\n    email: x@example.org\n`,
    );
    const credential = config?.registryCredentials.get('registry.example.org');
    expect(credential).toEqual({
      username: 'robot',
      password: { kind: 'plain', value: 's3cret' },
      email: 'x@example.org',
    });
  });

  it('uses the original default when health_check_timeout_seconds is 0', () => {
    const { config } = validate('ports: {80: 80}\nhealth_check_path: /\nhealth_check_timeout_seconds: 0\n');
    expect(config?.healthCheck?.timeoutSeconds).toBe(60);
  });
});
