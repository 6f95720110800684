import { describe, expect, it } from 'vitest';
import { checkConfigInput } from '../../../src/config/config-input.js';
import type { MutableTagPolicy } from '../../../src/config/image-reference.js';
import { loadConfig } from '../../../src/config/load-config.js';

const base = '#taupage-ami-config\nruntime: Docker\n';

function validate(yaml: string, mutableTags?: MutableTagPolicy) {
  const { validation } = loadConfig(Buffer.from(base + yaml), {}, { mutableTags });
  return {
    config: validation.config,
    errors: validation.errors.map((issue) => `${issue.path}: ${issue.message}`),
    warnings: validation.warnings.map((issue) => `${issue.path}: ${issue.message}`),
  };
}

const SOURCE = 'source: registry.example.org/team/app';

describe('the AMI tag policy (--mutable-tags)', () => {
  it('rejects latest, SNAPSHOT and untagged images by default, with the key path', () => {
    for (const tag of [':latest', ':2.0-SNAPSHOT', ':2.0-snapshot', '']) {
      const { config, errors } = validate(`${SOURCE}${tag}\n`);
      expect(config).toBeUndefined();
      expect(errors).toEqual([expect.stringMatching(/^source: .*(mutable|no tag).*immutable version tag/)]);
    }
  });

  it('accepts them with a warning under warn, and silently under allow', () => {
    const warned = validate(`${SOURCE}:latest\n`, 'warn');
    expect(warned.errors).toEqual([]);
    expect(warned.config?.source.tag).toBe('latest');
    expect(warned.warnings).toEqual([
      expect.stringMatching(/^source: uses the mutable tag "latest"; accepted by the AMI's tag policy/),
    ]);
    const allowed = validate(`${SOURCE}:1.0-SNAPSHOT\n`, 'allow');
    expect(allowed).toMatchObject({ errors: [], warnings: [] });
    expect(allowed.config?.source.tag).toBe('1.0-SNAPSHOT');
  });

  it('reads an untagged image as :latest when the policy lets it through', () => {
    const { config, errors } = validate(`${SOURCE}\n`, 'allow');
    expect(errors).toEqual([]);
    expect(config?.source).toMatchObject({ repository: 'team/app', tag: 'latest', digest: undefined });
  });

  it('always accepts digests and version tags', () => {
    const digest = `@sha256:${'a'.repeat(64)}`;
    for (const policy of ['reject', 'warn', 'allow'] as const) {
      expect(validate(`${SOURCE}${digest}\n`, policy)).toMatchObject({ errors: [], warnings: [] });
      expect(validate(`${SOURCE}:1.0.3\n`, policy)).toMatchObject({ errors: [], warnings: [] });
    }
  });

  it('applies to `taupage validate` of a Senza definition too', () => {
    const senza = Buffer.from(
      'SenzaComponents:\n  - AppServer:\n      Type: Senza::TaupageAutoScalingGroup\n      TaupageConfig:\n' +
        '        runtime: Docker\n        source: "registry.example.org/team/app:latest"\n',
    );
    const strict = checkConfigInput(senza, { defaults: {}, template: true });
    expect(strict.errors.map((issue) => issue.message)).toEqual([
      expect.stringMatching(/mutable tag "latest"/),
    ]);
    const lenient = checkConfigInput(senza, { defaults: {}, template: true, mutableTags: 'warn' });
    expect(lenient.errors).toEqual([]);
    expect(lenient.warnings.map((issue) => issue.message)).toEqual([
      expect.stringMatching(/mutable tag "latest"; accepted by the AMI's tag policy/),
    ]);
  });
});

describe('container options that Docker would refuse', () => {
  const source = `${SOURCE}:1.0\n`;

  it('names ports and hostname that cannot go with networking: container:<name>', () => {
    const { config, errors } = validate(
      `${source}networking: container:sidecar\nports:\n  8080: 8080\nhostname: app\n`,
    );
    expect(config).toBeUndefined();
    expect(errors).toEqual([
      'ports: cannot be published with networking: container:sidecar; publish them on that container',
      'hostname: cannot be set with networking: container:sidecar (the container shares its network)',
    ]);
  });

  it('warns that ports are not published with networking: none or host', () => {
    for (const mode of ['none', 'host']) {
      const { config, warnings } = validate(`${source}networking: ${mode}\nports:\n  8080: 8080\n`);
      expect(config?.networking).toBe(mode);
      expect(warnings).toEqual([
        expect.stringMatching(new RegExp(`^ports: are not published with networking: ${mode}`)),
      ]);
    }
  });

  it('names a memory limit below Docker’s minimum and a reservation above the limit', () => {
    expect(validate(`${source}docker:\n  memory: 1m\n`).errors).toEqual([
      'docker.memory: expected at least 6m (Docker’s minimum memory limit)',
    ]);
    expect(validate(`${source}docker:\n  memory: 512m\n  memory_reservation: 1g\n`).errors).toEqual([
      'docker.memory_reservation: expected a soft limit not above docker.memory',
    ]);
    expect(validate(`${source}docker:\n  memory: 512m\n  memory_reservation: 512m\n`).errors).toEqual([]);
  });

  it('names a mounts: entry at a path a mount flag (or /meta) already uses', () => {
    const { errors } = validate(
      `${source}mount_custom_log: true\nmounts:\n  /var/log:\n    partition: none\n    filesystem: tmpfs\n    erase_on_boot: true\n  /meta:\n    erase_on_boot: false\n`,
    );
    expect(errors).toEqual([
      'mounts./var/log: is already mounted by mount_custom_log; choose another path',
      'mounts./meta: is already mounted by taupage.yaml (/meta); choose another path',
    ]);
  });

  it('accepts every container option together, without warnings', () => {
    const { config, errors, warnings } = validate(
      source +
        'privileged: true\nread_only: true\nshm_size: 1g\nhostname: kio-1\nnetworking: bridge\n' +
        'capabilities_add: [NET_ADMIN]\ncapabilities_drop: [MKNOD]\ndocker_daemon_access: true\n' +
        'mount_var_log: true\nmount_custom_log: true\nmount_certs: true\n' +
        'tokeninfo_url: https://auth.example.org/oauth2/tokeninfo\n' +
        'docker:\n  log_driver: json-file\n  log_opt:\n    max-size: 10m\n  stop_timeout: 30\n' +
        '  memory: 256m\n  memory_reservation: 128m\n  cpus: 0.5\n  cpu_shares: 256\n',
    );
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(config?.docker.stopTimeoutSeconds).toBe(30);
  });
});
