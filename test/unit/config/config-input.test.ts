import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { checkConfigInput } from '../../../src/config/config-input.js';
import { loadConfig } from '../../../src/config/load-config.js';

const check = (text: string | Buffer, template = true) =>
  checkConfigInput(typeof text === 'string' ? Buffer.from(text) : text, { defaults: {}, template });

const SENZA = `SenzaInfo:
  StackName: hello
  Parameters:
    - ImageVersion: {Description: Docker image version}
SenzaComponents:
  - Configuration:
      Type: Senza::StupsAutoConfiguration
  - AppServer:
      Type: Senza::TaupageAutoScalingGroup
      InstanceType: t2.micro
      SecurityGroups:
        - Fn::GetAtt: [AppSg, GroupId]
      TaupageConfig:
        runtime: Docker
        source: "pierone.example.org/team/hello:{{Arguments.ImageVersion}}"
        application_version: "{{Arguments.ImageVersion}}"
        ports:
          8080: abc
        health_check_port: "{{Arguments.Port}}"
        environment:
          DB_HOST: {Stack: hello-db, Output: DatabaseHost}
          SG: {"Fn::GetAtt": [AppSg, GroupId]}
          REGION: "{{AccountInfo.Region}}"
  - Worker:
      Type: Senza::TaupageAutoScalingGroup
      TaupageConfig:
        runtime: Docker
        source: pierone.example.org/team/worker:latest
`;

describe('checkConfigInput: Senza definitions', () => {
  it('checks every TaupageConfig block where it sits', () => {
    const result = check(SENZA);
    expect(result).toMatchObject({ kind: 'senza-definition', configs: 2 });
    expect(result.errors.map((error) => [error.path, error.line, error.message])).toEqual([
      [
        'SenzaComponents[1].AppServer.TaupageConfig.ports.8080',
        18,
        'expected a container port like 8080 or 8080/udp, found "abc"',
      ],
      [
        'SenzaComponents[2].Worker.TaupageConfig.source',
        28,
        'uses the mutable tag "latest"; use an immutable version tag or a @sha256: digest',
      ],
    ]);
  });

  it('treats placeholders and CloudFormation functions as opaque, and says where a number is not checked', () => {
    const result = check(SENZA);
    expect(result.warnings.map((warning) => [warning.path, warning.message])).toEqual([
      [
        'SenzaComponents[1].AppServer.TaupageConfig.health_check_port',
        'not checked: a template placeholder or CloudFormation function stands where a port number is needed',
      ],
    ]);
  });

  it('says so when a Senza definition has no TaupageConfig', () => {
    const result = check(
      'SenzaInfo: {StackName: db}\nSenzaComponents:\n  - Configuration: {Type: Senza::StupsAutoConfiguration}\n',
    );
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([
      { path: '(root)', message: 'is a Senza definition without a TaupageConfig block; nothing to check' },
    ]);
  });

  it('merges the AMI defaults under each block', () => {
    const result = checkConfigInput(Buffer.from(SENZA), { defaults: { root: 'maybe' }, template: true });
    expect(result.errors.filter((error) => error.path.endsWith('.root')).map((error) => error.path)).toEqual([
      'SenzaComponents[1].AppServer.TaupageConfig.root',
      'SenzaComponents[2].Worker.TaupageConfig.root',
    ]);
  });
});

describe('checkConfigInput: templates and rendered user data', () => {
  const templated =
    'runtime: Docker\nsource: "{{Arguments.DockerImage}}"\nports:\n  "{{Arguments.Port}}": 8080\nroot: "{{Arguments.Root}}"\n';

  it('accepts a placeholder where text goes and reports "not checked" where a number or word is needed', () => {
    const result = check(templated);
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((warning) => warning.path)).toEqual(['ports.{{Arguments.Port}}', 'root']);
  });

  it('reads placeholders as plain text with --rendered, as the agent does at boot', () => {
    const result = check(templated, false);
    expect(result.errors.map((error) => error.path)).toEqual(['source', 'ports.{{Arguments.Port}}', 'root']);
  });

  it('checks aws:kms: base64 without KMS: a warning in a template, an error when rendered', () => {
    const text =
      'runtime: Docker\nsource: r.example.org/t/a:1\nenvironment:\n  DB_PASSWORD: "aws:kms:v5V2bMGRgg2yTHXm5Fn..."\n';
    expect(check(text).errors).toEqual([]);
    expect(check(text).warnings).toEqual([
      expect.objectContaining({ path: 'environment.DB_PASSWORD', line: 4 }),
    ]);
    expect(check(text, false).errors).toEqual([
      {
        path: 'environment.DB_PASSWORD',
        message: 'expected aws:kms: followed by a base64 KMS ciphertext, found malformed base64',
        line: 4,
        column: 16,
      },
    ]);
    expect(JSON.stringify(check(text, false))).not.toContain('v5V2b');
  });

  it('a malformed aws:kms: value that holds no placeholder is an error at its key path, also in a template', () => {
    const text = 'runtime: Docker\nsource: r.example.org/t/a:1\nenvironment:\n  DB_PASSWORD: "aws:kms:%%%"\n';
    expect(check(text).errors).toEqual([
      {
        path: 'environment.DB_PASSWORD',
        message:
          'expected aws:kms: followed by a base64 KMS ciphertext (or a Senza {{…}} placeholder), found malformed text',
        line: 4,
        column: 16,
      },
    ]);
    expect(
      check('runtime: Docker\nsource: r.example.org/t/a:1\nscalyr_account_key: "aws:kms:"\n').errors,
    ).toEqual([expect.objectContaining({ path: 'scalyr_account_key', line: 3 })]);
  });

  it('a malformed aws:kms: value holding a Senza placeholder or a written stand-in stays a warning in a template', () => {
    for (const value of [
      'aws:kms:{{Arguments.DbPassword}}',
      'aws:kms:...',
      'aws:kms:AQICAHh…',
      'aws:kms:SECRET!!!',
      'aws:kms:abcdef1234567890abcdef=',
      'aws:kms:<ciphertext>',
    ]) {
      const result = check(
        `runtime: Docker\nsource: r.example.org/t/a:1\nenvironment:\n  DB_PASSWORD: "${value}"\n`,
      );
      expect(result.errors, value).toEqual([]);
      expect(result.warnings, value).toEqual([
        expect.objectContaining({ path: 'environment.DB_PASSWORD', line: 4 }),
      ]);
    }
  });

  it('notify_cfn with a stack and no resource (or the reverse) is an error at notify_cfn', () => {
    const base = 'runtime: Docker\nsource: r.example.org/t/a:1\n';
    for (const [yaml, missing, line] of [
      ['notify_cfn:\n  stack: app-1\n', 'resource', 4],
      ['notify_cfn: {resource: AppServer}\n', 'stack', 3],
    ] as const) {
      for (const template of [true, false])
        expect(check(base + yaml, template).errors).toEqual([
          {
            path: 'notify_cfn',
            message: `expected both stack and resource, found no ${missing}: CloudFormation could not be signalled and would wait out its timeout`,
            line,
            column: expect.any(Number) as unknown,
          },
        ]);
    }
    expect(
      check(`${base}notify_cfn: {stack: "{{SenzaInfo.StackName}}", resource: AppServer}\n`).errors,
    ).toEqual([]);
  });
});

describe('checkConfigInput: user data forms', () => {
  const config =
    '#taupage-ami-config\nruntime: Docker\nsource: registry.example.org/team/app:1.0\nports:\n  8080: abc\n';

  it('reads gzip-compressed user data', () => {
    expect(check(gzipSync(config)).errors).toEqual([
      expect.objectContaining({ path: 'ports.8080', line: 5 }),
    ]);
  });

  it('reads MIME multipart user data as cloud-init builds it, with lines of the whole file', () => {
    const mime = [
      'Content-Type: multipart/mixed; boundary="===============5048712381950520985=="',
      'MIME-Version: 1.0',
      '',
      '--===============5048712381950520985==',
      'Content-Type: text/x-shellscript; charset="us-ascii"',
      'MIME-Version: 1.0',
      '',
      '#!/bin/sh',
      'echo hi',
      '--===============5048712381950520985==',
      'Content-Type: text/x-taupage-ami-config; charset="us-ascii"',
      'MIME-Version: 1.0',
      'Content-Transfer-Encoding: 7bit',
      'Content-Disposition: attachment; filename="taupage.yaml"',
      '',
      config.trimEnd(),
      '--===============5048712381950520985==--',
      '',
    ].join('\n');
    const result = check(mime);
    expect(result.errors).toEqual([expect.objectContaining({ path: 'ports.8080', line: 20, column: 9 })]);
    expect(result.warnings).toEqual([
      {
        path: '(user data)',
        message: 'the MIME part text/x-shellscript is ignored: taupage reads only the TaupageConfig part',
      },
    ]);
  });

  it('reads base64-encoded and gzip-compressed MIME parts', () => {
    const body = gzipSync(config).toString('base64').replace(/.{76}/g, '$&\n');
    const mime = `Content-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/x-taupage-ami-config\nContent-Transfer-Encoding: base64\n\n${body}\n--XYZ--\n`;
    expect(check(mime).errors).toEqual([expect.objectContaining({ path: 'ports.8080', line: 5 })]);
  });

  it('names what is missing when no MIME part is a TaupageConfig', () => {
    const mime =
      'Content-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/cloud-config\n\npackages: [nginx]\n--XYZ--\n';
    expect(check(mime).errors).toEqual([
      {
        path: '(root)',
        message: expect.stringMatching(
          /MIME multipart document without a TaupageConfig part .*its parts: text\/cloud-config/,
        ) as unknown,
      },
    ]);
  });

  it('gives one located error for text that is not YAML, and never throws', () => {
    expect(check('runtime: Docker\nsource: [x\n').errors).toEqual([
      expect.objectContaining({
        path: '(root)',
        message: expect.stringMatching(/^not valid YAML/) as unknown,
        line: 3,
      }),
    ]);
    expect(check('application_id: {{Arguments.ApplicationId}}\n').errors).toEqual([
      expect.objectContaining({ path: '(root)', line: 1 }),
    ]);
  });

  it('warns about keys given twice; the last one wins, as in PyYAML', () => {
    const result = check('runtime: Docker\nsource: r.example.org/t/a:1\nroot: true\nroot: false\n', false);
    expect(result.warnings).toEqual([
      expect.objectContaining({
        path: 'root',
        line: 4,
        message: 'is given twice in the same map; the last one is used (as PyYAML did)',
      }),
    ]);
    expect(
      loadConfig(Buffer.from('runtime: Docker\nsource: r.example.org/t/a:1\nroot: true\nroot: false\n'), {})
        .validation.config?.root,
    ).toBe(false);
  });
});
