import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import type { TaupageConfig } from '../../../src/config/taupage-config.js';
import { Secret } from '../../../src/core/secret.js';
import {
  buildContainerSpec,
  DEFAULT_HOST_PATHS,
  describeContainerSpec,
  type ContainerHostPaths,
} from '../../../src/docker/container-spec.js';
import { ConfigSecrets } from '../../../src/secrets/decrypt-config-secrets.js';

const CIPHERTEXT = Buffer.from('splunk-token-ciphertext');
const KMS_VALUE = `aws:kms:${CIPHERTEXT.toString('base64')}`;
const SETTINGS = { containerName: 'taupageapp', metaDir: '/meta', applicationUser: '999:999' };
const HOST_PATHS: ContainerHostPaths = {
  dockerSocket: '/run/test/docker.sock',
  varLog: '/srv/log',
  customLog: '/srv/log-custom',
  certs: '/srv/certs',
  mountsRoot: '/srv/mounts',
};

function config(yaml: string): TaupageConfig {
  const { validation } = loadConfig(
    Buffer.from(`runtime: Docker\nsource: registry.example.org/team/app:1.0\n${yaml}`),
    {},
  );
  if (validation.config === undefined) throw new Error(JSON.stringify(validation.errors));
  return validation.config;
}

describe('buildContainerSpec', () => {
  it('leaves every option at Docker’s default when the config sets none', () => {
    const spec = buildContainerSpec(config(''), 'digest', SETTINGS, undefined);
    expect(spec).toMatchObject({
      privileged: false,
      readOnlyRootfs: false,
      shmSizeBytes: undefined,
      hostname: undefined,
      networkMode: 'bridge',
      capAdd: [],
      capDrop: [],
      stopTimeoutSeconds: undefined,
      resources: {
        memoryBytes: undefined,
        memoryReservationBytes: undefined,
        nanoCpus: undefined,
        cpuShares: undefined,
      },
      logConfig: { driver: 'local', options: { 'max-size': '50m', 'max-file': '5' } },
    });
    expect(spec.mounts).toEqual([{ source: '/meta', target: '/meta', readOnly: true }]);
  });

  it('maps every container option of the config', () => {
    const spec = buildContainerSpec(
      config(
        [
          'privileged: true',
          'read_only: yes',
          'shm_size: 256m',
          'hostname: kio-1',
          'capabilities_add: [NET_ADMIN, cap_sys_ptrace]',
          'capabilities_drop: [MKNOD]',
          'docker:',
          '  stop_timeout: 45',
          '  memory: 1G',
          '  memory_reservation: 512m',
          '  cpus: 1.5',
          '  cpu_shares: 512',
        ].join('\n') + '\n',
      ),
      'digest',
      SETTINGS,
      undefined,
    );
    expect(spec).toMatchObject({
      privileged: true,
      readOnlyRootfs: true,
      shmSizeBytes: 256 * 1024 ** 2,
      hostname: 'kio-1',
      capAdd: ['NET_ADMIN', 'SYS_PTRACE'],
      capDrop: ['MKNOD'],
      stopTimeoutSeconds: 45,
      resources: {
        memoryBytes: 1024 ** 3,
        memoryReservationBytes: 512 * 1024 ** 2,
        nanoCpus: 1_500_000_000,
        cpuShares: 512,
      },
    });
  });

  it('binds the mount flags and mounts: entries from the AMI host paths, and only the docker socket', () => {
    const yaml =
      'mount_var_log: true\nmount_custom_log: true\nmount_certs: true\ndocker_daemon_access: true\n' +
      'mounts:\n  /data:\n    partition: /dev/xvdf\n  /tmp:\n    partition: none\n    filesystem: tmpfs\n';
    const spec = buildContainerSpec(config(yaml), 'd', { ...SETTINGS, hostPaths: HOST_PATHS }, undefined);
    expect(spec.mounts).toEqual([
      { source: '/meta', target: '/meta', readOnly: true },
      { source: '/srv/mounts/data', target: '/data', readOnly: false },
      { source: '/srv/mounts/tmp', target: '/tmp', readOnly: false },
      { source: '/srv/log', target: '/var/log-host', readOnly: true },
      { source: '/srv/log-custom', target: '/var/log', readOnly: false },
      { source: '/srv/certs', target: '/etc/ssl/certs', readOnly: true },
      { source: '/run/test/docker.sock', target: '/var/run/docker.sock', readOnly: false },
    ]);
    const production = buildContainerSpec(config(yaml), 'd', SETTINGS, undefined);
    expect(production.mounts.map((mount) => mount.source)).toEqual([
      '/meta',
      '/mounts/data',
      '/mounts/tmp',
      DEFAULT_HOST_PATHS.varLog,
      '/var/log-custom',
      '/etc/ssl/certs',
      '/var/run/docker.sock',
    ]);
  });

  it('runs the app as -u 999 (uid only, the image’s group) plus the application group, unless the AMI says otherwise', () => {
    const spec = buildContainerSpec(config(''), 'd', SETTINGS, undefined);
    expect([spec.user, spec.groupAdd]).toEqual(['999', ['999']]);
    const ami = buildContainerSpec(config(''), 'd', { ...SETTINGS, containerUser: '999:999' }, undefined);
    expect([ami.user, ami.groupAdd]).toEqual(['999:999', undefined]);
    const root = buildContainerSpec(config('root: true\n'), 'd', SETTINGS, undefined);
    expect([root.user, root.groupAdd]).toEqual([undefined, undefined]);
  });

  it('binds the AMI’s Docker CLI read-only at /usr/bin/docker next to the socket for docker_daemon_access', () => {
    const paths = { ...HOST_PATHS, dockerCli: '/opt/static/docker' };
    const spec = buildContainerSpec(
      config('docker_daemon_access: true\n'),
      'd',
      { ...SETTINGS, hostPaths: paths },
      undefined,
    );
    expect(spec.mounts.slice(1)).toEqual([
      { source: '/run/test/docker.sock', target: '/var/run/docker.sock', readOnly: false },
      { source: '/opt/static/docker', target: '/usr/bin/docker', readOnly: true },
    ]);
    const without = buildContainerSpec(config(''), 'd', { ...SETTINGS, hostPaths: paths }, undefined);
    expect(without.mounts.map((mount) => mount.target)).toEqual(['/meta']);
  });

  it('defaults the awslogs stream to the instance id and its region to the instance’s; log_opt wins', () => {
    const instance = { instanceId: 'i-0123456789abcdef0', region: 'eu-west-1' };
    const spec = buildContainerSpec(
      config('docker:\n  log_driver: awslogs\n  log_opt: {awslogs-group: app}\n'),
      'd',
      { ...SETTINGS, instance },
      undefined,
    );
    expect(spec.logConfig).toEqual({
      driver: 'awslogs',
      options: {
        'awslogs-group': 'app',
        'awslogs-stream': 'i-0123456789abcdef0',
        'awslogs-region': 'eu-west-1',
      },
    });
    const own = buildContainerSpec(
      config(
        'docker:\n  log_driver: awslogs\n  log_opt: {awslogs-stream: mine, awslogs-region: us-east-1}\n',
      ),
      'd',
      { ...SETTINGS, instance },
      undefined,
    );
    expect(own.logConfig.options).toEqual({ 'awslogs-stream': 'mine', 'awslogs-region': 'us-east-1' });
    const gelf = buildContainerSpec(
      config('docker:\n  log_driver: gelf\n'),
      'd',
      { ...SETTINGS, instance },
      undefined,
    );
    expect(gelf.logConfig.options).toEqual({});
  });

  it('sets ETCD_URL after the user’s environment when etcd_discovery_domain is set', () => {
    const yaml = 'etcd_discovery_domain: etcd.example.org\nenvironment:\n  ETCD_URL: mine\n  FLAG: true\n';
    const spec = buildContainerSpec(config(yaml), 'd', SETTINGS, undefined);
    expect(spec.env.map(({ name, value }) => `${name}=${String(value)}`).slice(0, 3)).toEqual([
      'ETCD_URL=mine',
      'FLAG=True',
      'ETCD_URL=http://172.17.0.1:2379',
    ]);
    const custom = buildContainerSpec(
      config(yaml),
      'd',
      { ...SETTINGS, etcdUrl: 'http://10.0.0.1:2379' },
      undefined,
    );
    expect(custom.env.filter((v) => v.name === 'ETCD_URL').at(-1)?.value).toBe('http://10.0.0.1:2379');
    expect(buildContainerSpec(config(''), 'd', SETTINGS, undefined).env.map((v) => v.name)).not.toContain(
      'ETCD_URL',
    );
  });

  it('publishes ports only on a bridge network', () => {
    const ports = 'ports:\n  8080: 8080\n';
    expect(buildContainerSpec(config(ports), 'd', SETTINGS, undefined).ports).toHaveLength(1);
    for (const mode of ['host', 'none']) {
      const spec = buildContainerSpec(config(`${ports}networking: ${mode}\n`), 'd', SETTINGS, undefined);
      expect(spec.networkMode).toBe(mode);
      expect(spec.ports).toEqual([]);
    }
    const shared = buildContainerSpec(config('networking: container:sidecar\n'), 'd', SETTINGS, undefined);
    expect(shared.networkMode).toBe('container:sidecar');
  });

  it('sets TOKENINFO_URL from tokeninfo_url, unless the environment sets it', () => {
    const url = 'https://auth.example.org/oauth2/tokeninfo';
    const env = (yaml: string) =>
      buildContainerSpec(config(yaml), 'd', SETTINGS, undefined).env.filter(
        (v) => v.name === 'TOKENINFO_URL',
      );
    expect(env(`tokeninfo_url: ${url}\n`)).toEqual([{ name: 'TOKENINFO_URL', value: url }]);
    expect(env(`tokeninfo_url: ${url}\nenvironment:\n  TOKENINFO_URL: http://mine\n`)).toEqual([
      { name: 'TOKENINFO_URL', value: 'http://mine' },
    ]);
    expect(env('')).toEqual([]);
  });

  it('keeps the bounded options under log_opt (local, json-file), and replaces them for another driver', () => {
    const local = buildContainerSpec(
      config('docker:\n  log_opt:\n    max-file: "2"\n'),
      'd',
      SETTINGS,
      undefined,
    );
    expect(local.logConfig).toEqual({
      driver: 'local',
      options: { 'max-size': '50m', 'max-file': '2' },
    });
    const jsonFile = buildContainerSpec(
      config('docker:\n  log_driver: json-file\n'),
      'd',
      SETTINGS,
      undefined,
    );
    expect(jsonFile.logConfig).toEqual({
      driver: 'json-file',
      options: { 'max-size': '50m', 'max-file': '5' },
    });
    const splunk = buildContainerSpec(
      config(
        `docker:\n  log_driver: splunk\n  log_opt:\n    splunk-url: https://splunk\n    splunk-token: "${KMS_VALUE}"\n`,
      ),
      'd',
      SETTINGS,
      new ConfigSecrets(new Map([[CIPHERTEXT.toString('base64'), new Secret('tok-3n')]])),
    );
    expect(splunk.logConfig.driver).toBe('splunk');
    expect(splunk.logConfig.options['splunk-url']).toBe('https://splunk');
    const token = splunk.logConfig.options['splunk-token'];
    expect(token).toBeInstanceOf(Secret);
    expect(token instanceof Secret && token.reveal()).toBe('tok-3n');
    expect(JSON.stringify(describeContainerSpec(splunk))).not.toContain('tok-3n');
    expect(describeContainerSpec(splunk).logConfig.options['splunk-token']).toBe('[redacted]');
  });

  it('shows a log_opt secret as [redacted] when planned without secrets', () => {
    const spec = buildContainerSpec(
      config(`docker:\n  log_driver: splunk\n  log_opt:\n    splunk-token: "${KMS_VALUE}"\n`),
      'd',
      SETTINGS,
      undefined,
    );
    expect(spec.logConfig.options).toEqual({ 'splunk-token': '[redacted]' });
  });
});

describe('describeContainerSpec', () => {
  it('describes every option as JSON data, with Docker defaults as null', () => {
    const plan = describeContainerSpec(
      buildContainerSpec(config('read_only: true\ndocker:\n  cpus: 0.5\n'), 'd', SETTINGS, undefined),
    );
    expect(plan).toMatchObject({
      networkMode: 'bridge',
      hostname: null,
      privileged: false,
      readOnlyRootfs: true,
      shmSizeBytes: null,
      stopTimeoutSeconds: null,
      resources: { memoryBytes: null, memoryReservationBytes: null, cpus: 0.5, cpuShares: null },
    });
  });
});
