import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';

/**
 * One invalid value per key family, with the exact error: path and message. A change in wording
 * or location shows up here as a diff. (Rendered user data, as the agent reads it at boot.)
 */
const BASE = '#taupage-ami-config\nruntime: Docker\nsource: registry.example.org/team/app:1.0\n';

type Case = readonly [yaml: string, path: string, message: string];

const FAMILIES: Readonly<Record<string, readonly Case[]>> = {
  'runtime and source': [
    ['runtime: docker\n', 'runtime', 'expected one of "Docker", found "docker"'],
    ['source: 42\n', 'source', 'expected an image reference string, found number 42'],
    [
      'source: registry.example.org/team/app:latest\n',
      'source',
      'uses the mutable tag "latest"; use an immutable version tag or a @sha256: digest',
    ],
    [
      'source: registry.example.org/team/app\n',
      'source',
      'has no tag (tags must be immutable versions, e.g. :1.0.3); use an immutable version tag or a @sha256: digest',
    ],
    [
      'source: registry.example.org/team/App:1\n',
      'source',
      'invalid repository "team/App" (lowercase letters, digits and . _ - / only)',
    ],
    [
      'source: "aws:kms:AAAA"\n',
      'source',
      'expected an image reference, found an aws:kms: value (taupage must read the image)',
    ],
  ],
  identity: [
    ['application_id: [a]\n', 'application_id', 'expected a string (kio id), found a list of 1 item'],
    ['application_version: {a: 1}\n', 'application_version', 'expected a string, found a map'],
  ],
  environment: [
    ['environment: [A=1]\n', 'environment', 'expected a map `NAME: value`, found a list of 1 item'],
    [
      'environment:\n  A=B: x\n',
      'environment.A=B',
      'expected an environment variable name (letters, digits, _ . -; without =)',
    ],
    ['environment:\n  A: [1, 2]\n', 'environment.A', 'expected a text value, found a list of 2 items'],
    [
      'environment:\n  DB_PASSWORD: "aws:kms:not base64!!"\n',
      'environment.DB_PASSWORD',
      'expected aws:kms: followed by a base64 KMS ciphertext, found malformed base64',
    ],
    [
      'environment:\n  HOST: {Ref: DbHost}\n',
      'environment.HOST',
      'expected a text value, found a CloudFormation function (Ref) that nothing rendered',
    ],
  ],
  ports: [
    ['ports: [8080]\n', 'ports', 'expected a map of host_port: container_port, found a list of 1 item'],
    ['ports:\n  abc: 80\n', 'ports.abc', 'expected a host port like 8080 or 8080/udp, found "abc"'],
    ['ports:\n  8080: abc\n', 'ports.8080', 'expected a container port like 8080 or 8080/udp, found "abc"'],
    ['ports:\n  70000: 80\n', 'ports.70000', 'expected a host port like 8080 or 8080/udp, found "70000"'],
    ['ports:\n  8080/udp: 8080/tcp\n', 'ports.8080/udp', 'host port is udp but container port is tcp'],
    ['ports:\n  8080: 80\n  8080/tcp: 81\n', 'ports.8080/tcp', 'publishes host port 8080/tcp a second time'],
    [
      'ports:\n  8080: 8080/sctp\n',
      'ports.8080',
      'expected a container port like 8080 or 8080/udp, found "8080/sctp"',
    ],
  ],
  booleans: [
    ['root: maybe\n', 'root', 'expected true or false (or yes/no, on/off, 1/0), found "maybe"'],
    ['privileged: 2\n', 'privileged', 'expected true or false (or yes/no, on/off, 1/0), found number 2'],
    [
      'mounts:\n  /data:\n    erase_on_boot: sometimes\n',
      'mounts./data.erase_on_boot',
      'expected true or false (or yes/no, on/off, 1/0), found "sometimes"',
    ],
  ],
  'container options': [
    ['shm_size: big\n', 'shm_size', 'expected a size such as 512m, 1G or a number of bytes, found "big"'],
    ['hostname: [a]\n', 'hostname', 'expected a hostname, found a list of 1 item'],
    [
      'hostname: "aws:kms:AAAA"\n',
      'hostname',
      'expected a hostname, found an aws:kms: value (only free-text values such as environment values and keys can be encrypted)',
    ],
    [
      'networking: bridged\n',
      'networking',
      'expected bridge, host, none or container:<name>, found "bridged"',
    ],
    [
      'capabilities_add: NET_ADMIN\n',
      'capabilities_add',
      'expected a list of capability names (without `CAP_`), found "NET_ADMIN" (write it as a list: [NET_ADMIN])',
    ],
    [
      'capabilities_drop: [NET_FOO]\n',
      'capabilities_drop[0]',
      'expected a Linux capability name such as NET_ADMIN or SYS_PTRACE, found "NET_FOO"',
    ],
    ['shutdown: always\n', 'shutdown', 'expected one of "never", "on-exit", "on-success", found "always"'],
    [
      'docker:\n  stop_timeout: soon\n',
      'docker.stop_timeout',
      'expected a whole number from 0 to 3600, found "soon"',
    ],
    [
      'docker:\n  memory: lots\n',
      'docker.memory',
      'expected a size such as 512m, 1G or a number of bytes, found "lots"',
    ],
    [
      'image_pull_policy: sometimes\n',
      'image_pull_policy',
      'expected one of "if-not-present", "always", "never", found "sometimes"',
    ],
  ],
  credentials: [
    [
      'dockercfg:\n  https://r.example.org: secret-string\n',
      'dockercfg.https://r.example.org',
      'expected a map with auth, found a text',
    ],
    ['mint_bucket: [a]\n', 'mint_bucket', 'expected an S3 bucket name, found a list of 1 item'],
    // tokeninfo_url looks secret (token): its value is not echoed.
    ['tokeninfo_url: not a url\n', 'tokeninfo_url', 'expected an absolute URL, found a text'],
  ],
  logging: [
    ['logging: [s3]\n', 'logging', 'expected a map of log-shipping options, found a list of 1 item'],
    [
      'logging:\n  log_destination: kafka\n',
      'logging.log_destination',
      'expected one of "s3", "scalyr", "scalyr_s3", "rsyslog", "none", found "kafka"',
    ],
    [
      'logging:\n  rsyslog_port: http\n',
      'logging.rsyslog_port',
      'expected a port number from 1 to 65535, found "http"',
    ],
    [
      'logging:\n  scalyr_agent_applog_sampling:\n    - match_expression: x\n      sampling_rate: 2\n',
      'logging.scalyr_agent_applog_sampling[0].sampling_rate',
      'expected a number from 0 to 1, found number 2',
    ],
    [
      'application_logrotate_size: huge\n',
      'application_logrotate_size',
      'expected a size such as 512m, 1G or a number of bytes, found "huge"',
    ],
    [
      'application_logrotate_interval: fortnightly\n',
      'application_logrotate_interval',
      'expected one of "hourly", "daily", "weekly", "monthly", "yearly", found "fortnightly"',
    ],
    [
      'application_logrotate_rotate: -1\n',
      'application_logrotate_rotate',
      'expected a whole number from 0 to 10000, found number -1',
    ],
    [
      'rsyslog_max_message_size: 4X\n',
      'rsyslog_max_message_size',
      'expected a size such as 512m, 1G or a number of bytes, found "4X"',
    ],
    [
      'cloudwatch_logs:\n  relative/path: group\n',
      'cloudwatch_logs.relative/path',
      'expected a log file path starting with /, found "relative/path"',
    ],
  ],
  ssh: [
    ['ssh_ports: [22, abc]\n', 'ssh_ports[1]', 'expected a port number from 1 to 65535, found "abc"'],
    [
      'ssh_gateway_ports: maybe\n',
      'ssh_gateway_ports',
      'expected one of "yes", "no", "clientspecified", found "maybe"',
    ],
  ],
  disks: [
    [
      'volumes:\n  ebs:\n    xvdf: name\n',
      'volumes.ebs.xvdf',
      'expected a device path such as /dev/xvdf, found "xvdf"',
    ],
    [
      'volumes:\n  raid:\n    /dev/md/r0:\n      devices: [/dev/xvdb, /dev/xvdc]\n',
      'volumes.raid./dev/md/r0.level',
      'is required (level: 0)',
    ],
    [
      'volumes:\n  raid:\n    /dev/md/r0:\n      level: 0\n      devices: [/dev/xvdb]\n',
      'volumes.raid./dev/md/r0.devices',
      'expected at least 2 devices for a RAID array, found 1',
    ],
    [
      'volumes:\n  ebs:\n    /dev/xvdf:\n',
      'volumes.ebs./dev/xvdf',
      'expected the Name tag of an EBS volume to attach, found nothing (null)',
    ],
    [
      'mounts:\n  data:\n    partition: /dev/xvdf\n',
      'mounts.data',
      'expected a container path starting with /, found "data"',
    ],
    [
      'mounts:\n  /data:\n    filesystem: ntfs\n',
      'mounts./data.filesystem',
      'expected one of "ext4", "ext3", "ext2", "xfs", "btrfs", "tmpfs", found "ntfs"',
    ],
  ],
  'networking and OS': [
    [
      'nat_gateways:\n  subnet-12345678: not-an-ip\n',
      'nat_gateways.subnet-12345678',
      'expected the NAT gateway’s private IPv4 address, found "not-an-ip"',
    ],
    ['nat_gateways:\n  sub-1: 10.0.0.1\n', 'nat_gateways.sub-1', 'expected a subnet id (subnet-0123abcd)'],
    ['sysctl:\n  "bad name!": 1\n', 'sysctl.bad name!', 'expected a sysctl name such as vm.swappiness'],
    [
      'sysctl:\n  vm.swappiness: [1]\n',
      'sysctl.vm.swappiness',
      'expected a sysctl value, found a list of 1 item',
    ],
  ],
  'health and lifecycle': [
    [
      'health_check_path: health\n',
      'health_check_path',
      'expected a URL path starting with /, found "health"',
    ],
    ['health_check_port: 0\n', 'health_check_port', 'expected a port number from 1 to 65535, found number 0'],
    [
      'health_check_timeout_seconds: 100000\n',
      'health_check_timeout_seconds',
      'expected a whole number from 0 to 86400, found number 100000',
    ],
    ['healthcheck:\n  type: nlb\n', 'healthcheck.type', 'expected one of "elb", "alb", found "nlb"'],
    ['healthcheck:\n  type: elb\n', 'healthcheck.loadbalancer_name', 'is required for type elb'],
    [
      'healthcheck:\n  type: alb\n  target_group_arn: tg\n',
      'healthcheck.target_group_arn',
      'expected a target group ARN, found "tg"',
    ],
    [
      'notify_cfn:\n  stack: [a]\n  resource: r\n',
      'notify_cfn.stack',
      'expected a stack name, found a list of 1 item',
    ],
  ],
};

describe('invalid values, per key family', () => {
  for (const [family, cases] of Object.entries(FAMILIES)) {
    describe(family, () => {
      it.each(cases)('%j', (yaml, path, message) => {
        const { config, errors } = loadConfig(Buffer.from(BASE + yaml), {}).validation;
        expect(config).toBeUndefined();
        expect(errors.map((error) => [error.path, error.message])).toEqual([[path, message]]);
        // Every error is located in the file.
        expect(errors[0]?.line).toBeGreaterThan(3);
      });
    });
  }
});

describe('humane readings', () => {
  const read = (yaml: string) => loadConfig(Buffer.from(BASE + yaml), {}).validation;

  it('reads booleans by one rule, whatever their spelling', () => {
    const { config, errors } = read(
      'root: "yes"\nprivileged: On\nread_only: 0\nmount_certs: "TRUE"\nkeep_instance_users: no\n',
    );
    expect(errors).toEqual([]);
    expect(config).toMatchObject({
      root: true,
      privileged: true,
      readOnly: false,
      mountCerts: true,
      keepInstanceUsers: false,
    });
  });

  it('sets an environment variable with an unusual name, with a warning (Docker takes it)', () => {
    const { config, warnings } = read('environment:\n  1PASSWORD_VAULT: x\n');
    expect(config?.environment).toEqual([{ name: '1PASSWORD_VAULT', value: { kind: 'plain', value: 'x' } }]);
    expect(warnings.map((warning) => warning.path)).toEqual(['environment.1PASSWORD_VAULT']);
  });

  it('reads a single ssh port as a one-item list, with a warning', () => {
    const { config, warnings } = read('ssh_ports: 2222\n');
    expect(config?.sshPorts).toEqual([2222]);
    expect(warnings.map((warning) => warning.message)).toContain(
      'expected a list of ports; read the single port as a one-item list (write ssh_ports: [N])',
    );
  });

  it('reads ports given as strings, and port keys with protocols', () => {
    const { config } = read("ports:\n  '7001': '7001'\n  8301/udp: 8301\n");
    expect(config?.ports).toEqual([
      { hostPort: 7001, containerPort: 7001, protocol: 'tcp' },
      { hostPort: 8301, containerPort: 8301, protocol: 'udp' },
    ]);
  });

  it('orders ports by host port, then tcp before udp', () => {
    const { config } = read('ports:\n  9000/udp: 9000\n  9000: 9000\n  53/udp: 53\n');
    expect(config?.ports).toEqual([
      { hostPort: 53, containerPort: 53, protocol: 'udp' },
      { hostPort: 9000, containerPort: 9000, protocol: 'tcp' },
      { hostPort: 9000, containerPort: 9000, protocol: 'udp' },
    ]);
  });

  it('keeps environment text as PyYAML wrote it: y stays "y", and 1.10 warns', () => {
    const { config, warnings } = read('environment:\n  ANSWER: y\n  JAVA: 1.10\n  FLAG: yes\n');
    expect(config?.environment.map((variable) => [variable.name, variable.value])).toEqual([
      ['ANSWER', { kind: 'plain', value: 'y' }],
      ['JAVA', { kind: 'plain', value: '1.1' }],
      ['FLAG', { kind: 'plain', value: 'True' }],
    ]);
    expect(warnings).toEqual([
      expect.objectContaining({
        path: 'environment.JAVA',
        message: 'YAML read 1.10 as the number 1.1; quote it ("1.10") to keep it as written',
      }),
    ]);
  });

  it('tells application_version written as 1.10 to be quoted', () => {
    const { config, warnings } = read('application_version: 1.10\n');
    expect(config?.applicationVersion).toBe('1.1');
    expect(warnings.map((warning) => warning.message)).toEqual([
      'YAML read 1.10 as the number 1.1; quote it ("1.10") to keep it exactly as written',
    ]);
  });

  it('warns about planned keys only when they ask for something', () => {
    const quiet = read(
      'application_logrotate_disable_compress: false\napplication_logrotate_disable_copytruncate: no\n',
    );
    expect(quiet.warnings).toEqual([]);
    const loud = read('application_logrotate_disable_compress: true\n');
    expect(loud.warnings.map((warning) => [warning.path, warning.message])).toEqual([
      [
        'application_logrotate_disable_compress',
        'is not supported by this taupage version yet; accepted, ignored',
      ],
    ]);
  });

  it('names the key and says it is ignored for third-party agents, renamed and removed keys', () => {
    const { errors, warnings } = read(
      'appdynamics_application: shop\nxray_enabled: true\nlocal_planb_tokeninfo: true\nopa_enabled: true\n' +
        'newrelic_account_key: abc\netcd_discovery_domain: etcd.example.org\nscalyr_host: x\n' +
        'application_logrotate_filesize: 1G\nlogentries_account_key: k\nrunt1me: Docker\n',
    );
    expect(errors).toEqual([]);
    expect(warnings.map((warning) => `${warning.path}: ${warning.message}`)).toEqual([
      'appdynamics_application: AppDynamics: the APM agent the original Taupage bundled is not part of this taupage; accepted, ignored',
      'xray_enabled: AWS X-Ray: the APM agent the original Taupage bundled is not part of this taupage; accepted, ignored',
      'local_planb_tokeninfo: Plan B token info is not part of this taupage; accepted, ignored',
      'opa_enabled: Open Policy Agent is not part of this taupage; accepted, ignored',
      'newrelic_account_key: New Relic: the APM agent the original Taupage bundled is not part of this taupage; accepted, ignored',
      'scalyr_host: was never part of Taupage (an unmerged pull request); ignored',
      'application_logrotate_filesize: is the pre-2015 spelling of application_logrotate_size; read as application_logrotate_size when that is not set',
      'logentries_account_key: is ignored: Logentries (Rapid7 InsightOps) no longer registers hosts by account key; create a Token TCP log there and set logentries_token_id to its token (may be aws:kms:)',
      'runt1me: is not a TaupageConfig key; ignored (did you mean runtime?)',
    ]);
  });

  it('warns once per APM agent the original bundled, naming its other keys', () => {
    const { errors, warnings } = read(
      'appdynamics_application: shop\nappdynamics_account_name: team\nnodejs_disable_snapshots: "true"\n' +
        'ruxit_account_key: r\ninstana_agent_key: i\ninstana_zone: z\nnewrelic_license_key: n\n' +
        'newrelic_account_key: k\nxray_enabled: true\n',
    );
    expect(errors).toEqual([]);
    const says =
      ': the APM agent the original Taupage bundled is not part of this taupage; accepted, ignored';
    expect(warnings.map((warning) => `${warning.path}: ${warning.message}`)).toEqual([
      `appdynamics_application: AppDynamics${says} (so are appdynamics_account_name, nodejs_disable_snapshots)`,
      `ruxit_account_key: Dynatrace (Ruxit)${says}`,
      `instana_agent_key: Instana${says} (so are instana_zone)`,
      `newrelic_license_key: New Relic${says} (so are newrelic_account_key)`,
      `xray_enabled: AWS X-Ray${says}`,
    ]);
  });

  it('builds typed fields for the keys other components act on', () => {
    const { config, errors } = read(
      [
        'shm_size: 1g',
        'networking: host',
        'capabilities_add: [net_admin, CAP_SYS_PTRACE]',
        'docker:',
        '  log_driver: awslogs',
        '  log_opt: {awslogs-group: app}',
        '  stop_timeout: 30',
        '  memory: 512m',
        '  cpus: 1.5',
        'healthcheck: {type: alb, target_group_arn: "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/app/abc"}',
        'notify_cfn: {stack: app-1, resource: AppServer}',
        'mounts:',
        '  /data: {partition: /dev/xvdf, erase_on_boot: false}',
        '  /tmp:',
        "volumes: {ebs: {/dev/xvdf: 'data-${local_ipv4}'}}",
        'sysctl: {vm.swappiness: 1}',
        'sysfs: {/sys/kernel/mm/transparent_hugepage/enabled: never, /sys/other: x}',
        'cloudwatch_logs: {/var/log/syslog: syslog-group}',
        'logging: {log_destination: scalyr, scalyr_account_key: abc}',
        'application_logrotate_size: 10M',
        'ssh_gateway_ports: yes',
        '',
      ].join('\n'),
    );
    expect(errors).toEqual([]);
    expect(config).toMatchObject({
      shmSize: 1024 ** 3,
      networking: 'host',
      capabilitiesAdd: ['NET_ADMIN', 'SYS_PTRACE'],
      docker: { logDriver: 'awslogs', stopTimeoutSeconds: 30, memory: 512 * 1024 ** 2, cpus: 1.5 },
      loadBalancerHealthCheck: { type: 'alb', targetGroupArn: expect.stringMatching(/^arn:aws:/) as unknown },
      notifyCfn: { stack: 'app-1', resource: 'AppServer' },
      mounts: [
        { path: '/data', partition: '/dev/xvdf', filesystem: 'ext4', eraseOnBoot: false, options: undefined },
        {
          path: '/tmp',
          partition: undefined,
          filesystem: 'ext4',
          eraseOnBoot: undefined,
          options: undefined,
        },
      ],
      logging: { logDestination: 'scalyr', scalyrAccountKey: { kind: 'plain', value: 'abc' } },
      applicationLogrotateSize: 10 * 1024 ** 2,
      sshGatewayPorts: 'yes',
    });
    expect([...(config?.docker.logOptions ?? [])]).toEqual([
      ['awslogs-group', { kind: 'plain', value: 'app' }],
    ]);
    expect([...(config?.volumes.ebs ?? [])]).toEqual([['/dev/xvdf', 'data-${local_ipv4}']]);
    expect([...(config?.sysctl ?? [])]).toEqual([['vm.swappiness', '1']]);
    expect([...(config?.sysfs ?? [])]).toEqual([['/sys/kernel/mm/transparent_hugepage/enabled', 'never']]);
    expect([...(config?.cloudwatchLogs ?? [])]).toEqual([['/var/log/syslog', 'syslog-group']]);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('collects every aws:kms: value anywhere, marking the ones the agent uses', () => {
    const cipher = Buffer.from('ciphertext').toString('base64');
    const { config } = read(
      `environment:\n  DB: "aws:kms:${cipher}"\nlogging:\n  scalyr_account_key: "aws:kms:${cipher}"\n` +
        `newrelic_account_key: "aws:kms:${cipher}"\nmy_tool:\n  - "aws:kms:${cipher}"\n`,
    );
    expect(config?.encryptedValues.map((value) => [value.path, value.required])).toEqual([
      ['environment.DB', true],
      ['logging.scalyr_account_key', true],
      ['newrelic_account_key', false],
      ['my_tool[0]', false],
    ]);
    expect(config?.logging?.scalyrAccountKey).toEqual({
      kind: 'encrypted',
      ciphertext: Buffer.from('ciphertext'),
    });
  });
});
