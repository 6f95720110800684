import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/program.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'taupage-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { code, stdout, stderr };
}

async function file(name: string, content: string | Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

const VALID = `#taupage-ami-config
runtime: Docker
source: registry.example.org/team/app:1.0
environment:
  DB_PASSWORD: "aws:kms:${Buffer.from('ciphertext-bytes').toString('base64')}"
  MODE: production
ports:
  8080: 8080
health_check_path: /health
`;

describe('taupage validate --defaults FILE (no config files): the AMI defaults file alone', () => {
  it('accepts the defaults file the AMI ships', async () => {
    const shipped = join(import.meta.dirname, '../../../ami/files/defaults.yaml');
    const result = await cli('validate', '--defaults', shipped);
    expect(result).toMatchObject({ code: 0, stdout: `${shipped}: valid (AMI defaults)\n` });
  });

  it('refuses a defaults file whose keys are invalid: exit 2, one line with the key path and line', async () => {
    const path = await file('bad-defaults.yaml', '# org defaults\nroot: maybe\nnotify_cfn: {stack: s}\n');
    const result = await cli('validate', '--defaults', path);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^.*bad-defaults\.yaml: invalid \(2 errors, AMI defaults\)\n/);
    expect(result.stdout).toContain('  error: root (line 2:7): expected true or false');
    expect(result.stdout).toContain('  error: notify_cfn (line 3:13): expected both stack and resource');
  });

  it('refuses a defaults file that is not YAML or not a map', async () => {
    for (const [name, content] of [
      ['not-yaml.yaml', 'root: [unclosed\n'],
      ['a-list.yaml', '- root\n'],
    ] as const) {
      const result = await cli('validate', '--defaults', await file(name, content));
      expect(result.code, name).toBe(2);
      expect(result.stdout, name).toContain(`${name}: invalid`);
    }
  });

  it('needs files or --defaults', async () => {
    const result = await cli('validate');
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('FILE');
  });
});

describe('taupage validate', () => {
  it('exits 0 for a valid config and prints a summary', async () => {
    const result = await cli('validate', await file('valid.yaml', VALID));
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/valid\.yaml: valid/);
  });

  it('exits 2 for an invalid config with JSON errors naming path and line', async () => {
    const path = await file(
      'invalid.yaml',
      'runtime: Docker\nsource: registry.example.org/team/app:1.0\nports:\n  8080: abc\n',
    );
    const result = await cli('validate', '--format', 'json', path);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toEqual({
      valid: false,
      errors: [
        {
          file: path,
          path: 'ports.8080',
          line: 4,
          column: 9,
          message: 'expected a container port like 8080 or 8080/udp, found "abc"',
        },
      ],
      warnings: [],
    });
  });

  it('reports malformed YAML as one located error', async () => {
    const result = await cli(
      'validate',
      '--format',
      'json',
      await file('broken.yaml', 'runtime: Docker\nports: [1\nsource: x\n'),
    );
    expect(result.code).toBe(2);
    const [error] = (
      JSON.parse(result.stdout) as { errors: { path: string; line: number; message: string }[] }
    ).errors;
    expect(error).toMatchObject({
      path: '(root)',
      line: 3,
      message: expect.stringMatching(/^not valid YAML/) as unknown,
    });
  });

  it('reads gzip-compressed user data', async () => {
    expect((await cli('validate', await file('gz.bin', gzipSync(VALID)))).code).toBe(0);
  });

  it('checks every TaupageConfig block of a Senza definition, with paths into it', async () => {
    const path = await file(
      'senza.yaml',
      [
        'SenzaInfo: {StackName: hello}',
        'SenzaComponents:',
        '  - Configuration: {Type: Senza::StupsAutoConfiguration}',
        '  - AppServer:',
        '      Type: Senza::TaupageAutoScalingGroup',
        '      TaupageConfig:',
        '        runtime: Docker',
        '        source: "pierone.example.org/team/hello:{{Arguments.ImageVersion}}"',
        '        ports:',
        '          8080: "{{Arguments.Port}}"',
        '          9090: http',
        '',
      ].join('\n'),
    );
    const result = await cli('validate', path);
    expect(result.code).toBe(2);
    expect(result.stdout.split('\n')).toEqual([
      `${path}: invalid (1 error, Senza definition, 1 TaupageConfig block, 1 warning)`,
      '  error: SenzaComponents[1].AppServer.TaupageConfig.ports.9090 (line 11:17): expected a container port like 8080 or 8080/udp, found "http"',
      '  warning: SenzaComponents[1].AppServer.TaupageConfig.ports.8080 (line 10:17): not checked: a template placeholder or CloudFormation function stands where a port number is needed',
      '',
    ]);
  });

  it('checks rendered user data strictly with --rendered', async () => {
    const path = await file(
      'rendered.yaml',
      'runtime: Docker\nsource: "registry.example.org/team/app:{{Arguments.ImageVersion}}"\n',
    );
    expect((await cli('validate', path)).code).toBe(0);
    const strict = await cli('validate', '--rendered', '--format', 'json', path);
    expect(strict.code).toBe(2);
    expect(JSON.parse(strict.stdout)).toMatchObject({
      valid: false,
      errors: [{ file: path, path: 'source', line: 2 }],
    });
  });

  it('judges mutable tags by --mutable-tags (TAUPAGE_MUTABLE_TAGS), reject by default', async () => {
    const path = await file(
      'snapshot.yaml',
      'runtime: Docker\nsource: registry.example.org/team/app:1.0-SNAPSHOT\n',
    );
    expect((await cli('validate', path)).code).toBe(2);
    expect((await cli('validate', '--mutable-tags', 'allow', path)).code).toBe(0);
    process.env.TAUPAGE_MUTABLE_TAGS = 'warn';
    try {
      const result = await cli('validate', path);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/valid \(1 warning\)[\s\S]*mutable SNAPSHOT tag/);
    } finally {
      delete process.env.TAUPAGE_MUTABLE_TAGS;
    }
  });

  it('exits 1 when a file cannot be read', async () => {
    const result = await cli('validate', join(dir, 'missing.yaml'));
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/missing\.yaml: invalid.*\n.*ENOENT/);
  });
});

describe('taupage plan', () => {
  it('prints the container spec with aws:kms: values redacted', async () => {
    const result = await cli('plan', '--config', await file('plan.yaml', VALID), '--format', 'json');
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as {
      container: { env: unknown; ports: unknown; user: string; image: string };
      healthCheck: unknown;
    };
    expect(plan.container.image).toBe('registry.example.org/team/app:1.0');
    expect(plan.container.user).toBe('999');
    expect(plan.container.env).toEqual([
      { name: 'DB_PASSWORD', value: '[redacted]' },
      { name: 'MODE', value: 'production' },
      { name: 'CREDENTIALS_DIR', value: '/meta/credentials' },
    ]);
    expect(plan.container.ports).toEqual([{ host: 8080, container: 8080, protocol: 'tcp' }]);
    expect(plan.healthCheck).toEqual({ url: 'http://127.0.0.1:8080/health', timeoutSeconds: 60 });
  });

  const OPTIONS = `#taupage-ami-config
runtime: Docker
source: registry.example.org/team/app:1.0
privileged: true
read_only: true
shm_size: 256m
hostname: kio-1
capabilities_add: [NET_ADMIN]
capabilities_drop: [MKNOD]
mount_var_log: true
mount_certs: true
docker_daemon_access: true
tokeninfo_url: https://auth.example.org/oauth2/tokeninfo
docker:
  log_driver: splunk
  log_opt:
    splunk-token: "aws:kms:${Buffer.from('splunk-token').toString('base64')}"
  stop_timeout: 30
  memory: 1g
  memory_reservation: 512m
  cpus: 1.5
  cpu_shares: 512
`;

  it('shows every container option in JSON, log_opt secrets [redacted]', async () => {
    const result = await cli('plan', '--config', await file('options.yaml', OPTIONS), '--format', 'json');
    expect(result.code).toBe(0);
    const { container } = JSON.parse(result.stdout) as { container: Record<string, unknown> };
    expect(container).toMatchObject({
      privileged: true,
      readOnlyRootfs: true,
      shmSizeBytes: 256 * 1024 ** 2,
      hostname: 'kio-1',
      networkMode: 'bridge',
      capAdd: ['NET_ADMIN'],
      capDrop: ['MKNOD'],
      stopTimeoutSeconds: 30,
      resources: {
        memoryBytes: 1024 ** 3,
        memoryReservationBytes: 512 * 1024 ** 2,
        cpus: 1.5,
        cpuShares: 512,
      },
      logConfig: { driver: 'splunk', options: { 'splunk-token': '[redacted]' } },
      mounts: [
        { source: '/meta', target: '/meta', readOnly: true },
        { source: '/var/log', target: '/var/log-host', readOnly: true },
        { source: '/etc/ssl/certs', target: '/etc/ssl/certs', readOnly: true },
        { source: '/var/run/docker.sock', target: '/var/run/docker.sock', readOnly: false },
      ],
    });
    expect(container.env).toContainEqual({
      name: 'TOKENINFO_URL',
      value: 'https://auth.example.org/oauth2/tokeninfo',
    });
  });

  it('shows every container option as text', async () => {
    const result = await cli('plan', '--config', await file('options-text.yaml', OPTIONS));
    expect(result.code).toBe(0);
    for (const line of [
      '  network:    bridge',
      '  hostname:   kio-1',
      '    /var/run/docker.sock -> /var/run/docker.sock',
      '    /var/log -> /var/log-host (read-only)',
      '  privileged: yes',
      '  read-only:  yes (root filesystem)',
      '  caps:       +NET_ADMIN -MKNOD',
      '  shm size:   256m',
      '  stop:       30 s after SIGTERM',
      '  limits:     memory 1g, reservation 512m, cpus 1.5, cpu shares 512',
      '  logs:       splunk (splunk-token=[redacted])',
      '    TOKENINFO_URL=https://auth.example.org/oauth2/tokeninfo',
    ])
      expect(result.stdout.split('\n')).toContain(line);
  });

  it('takes the AMI tag policy: --mutable-tags warn plans a :latest image with a warning', async () => {
    const path = await file(
      'latest.yaml',
      '#taupage-ami-config\nruntime: Docker\nsource: registry.example.org/team/app:latest\n',
    );
    expect((await cli('plan', '--config', path)).code).toBe(2);
    const result = await cli('plan', '--config', path, '--mutable-tags', 'warn', '--format', 'json');
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as { container: { image: string }; warnings: string[] };
    expect(plan.container.image).toBe('registry.example.org/team/app:latest');
    expect(plan.warnings).toEqual([
      expect.stringMatching(/^source .*mutable tag "latest"; accepted by the AMI's tag policy/),
    ]);
    expect((await cli('plan', '--config', path, '--mutable-tags', 'sometimes')).code).toBe(64);
  });

  it('fails with exit 2 and one line per error for an invalid config', async () => {
    const result = await cli('plan', '--config', await file('bad-plan.yaml', 'runtime: Docker\n'));
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      // A missing key has no line of its own: the error points at the map it is missing from.
      'error: source (line 1:1): is required (the Docker image, e.g. registry.example.org/team/app:1.0)',
      expect.stringMatching(
        /^taupage: error CONFIG_INVALID: .*bad-plan\.yaml is not a valid TaupageConfig/,
      ) as unknown,
    ]);
  });
});

describe('taupage schema', () => {
  it('prints the JSON Schema of taupage.yaml', async () => {
    const result = await cli('schema');
    expect(result.code).toBe(0);
    const schema = JSON.parse(result.stdout) as {
      $schema: string;
      required: string[];
      properties: Record<string, unknown>;
    };
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(schema.required).toEqual(['runtime', 'source']);
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['ports', 'ssh_ports', 'logging', 'appdynamics_application']),
    );
  });
});

describe('taupage (usage)', () => {
  it('lists the commands in --help', async () => {
    const result = await cli('--help');
    expect(result.code).toBe(0);
    for (const command of ['agent', 'local', 'plan', 'validate', 'schema', 'version'])
      expect(result.stdout).toContain(command);
  });

  it('documents the health check settings in agent and local --help, and refuses bad values with exit 64', async () => {
    for (const command of [['agent'], ['local', 'run']]) {
      const help = (await cli(...command, '--help')).stdout.replace(/\s+/g, ' ');
      for (const flag of [
        '--health-check-interval <seconds>',
        '--health-check-timeout <seconds>',
        '--health-check-failure-threshold <n>',
        '--health-check-success-threshold <n>',
      ])
        expect(help, `${command.join(' ')} ${flag}`).toContain(flag);
      expect(help).toContain('env: TAUPAGE_HEALTH_CHECK_INTERVAL');
    }
    const config = await file('health-flags.yaml', VALID);
    for (const [flag, value] of [
      ['--health-check-interval', '0'],
      ['--health-check-timeout', 'soon'],
      ['--health-check-failure-threshold', '1.5'],
      ['--health-check-success-threshold', '0'],
    ] as const) {
      const result = await cli('local', '--config', config, flag, value);
      expect(result.code, flag).toBe(64);
      expect(result.stderr, flag).toContain(flag);
    }
  });

  it('documents --scalyr-endpoint and --logentries-endpoint in agent and local --help', async () => {
    for (const command of [['agent'], ['local', 'run']]) {
      const result = await cli(...command, '--help');
      expect(result.stdout).toContain('--scalyr-endpoint <url>');
      expect(result.stdout).toContain('--logentries-endpoint <host:port>');
    }
  });

  it('refuses an endpoint setting that is not one, naming the flag', async () => {
    const config = await file('endpoint.yaml', VALID);
    const scalyr = await cli('local', '--config', config, '--scalyr-endpoint', 'ftp://scalyr.example');
    expect(scalyr.code).toBe(64);
    expect(scalyr.stderr).toContain(
      '--scalyr-endpoint: expected an http(s) URL, found "ftp://scalyr.example"',
    );
    const logentries = await cli('local', '--config', config, '--logentries-endpoint', 'no-port');
    expect(logentries.code).toBe(64);
    expect(logentries.stderr).toContain(
      '--logentries-endpoint: expected HOST:PORT, tls://HOST:PORT or tcp://HOST:PORT, found "no-port"',
    );
  });

  it('documents the local etcd settings in agent --help and refuses bad values with exit 64, naming the flag', async () => {
    const help = (await cli('agent', '--help')).stdout.replace(/\s+/g, ' ');
    for (const flag of [
      '--etcd-binary <file|off>',
      '--etcd-listen <urls>',
      '--etcd-peer-url <url>',
      '--etcd-data-dir <dir>',
      '--etcd-dns-server <ip[:port]>',
    ])
      expect(help, flag).toContain(flag);
    expect(help).toContain('env: TAUPAGE_ETCD_DNS_SERVER');
    for (const [flag, value, message] of [
      [
        '--etcd-dns-server',
        'dns.example.org',
        '--etcd-dns-server expects IP or IP:PORT, not "dns.example.org"',
      ],
      ['--etcd-dns-server', '10.0.0.2:99999', '--etcd-dns-server expects IP or IP:PORT'],
      [
        '--etcd-listen',
        'http://127.0.0.1:2379,127.0.0.1:2380',
        '--etcd-listen expects an http(s) URL, not "127.0.0.1:2380"',
      ],
      ['--etcd-peer-url', 'peer', '--etcd-peer-url expects an http(s) URL, not "peer"'],
    ] as const) {
      const result = await cli('agent', flag, value);
      expect(result.code, `${flag} ${value}`).toBe(64);
      expect(result.stderr, `${flag} ${value}`).toContain(message);
    }
  });

  it('exits 64 on an unknown command', async () => {
    expect((await cli('frobnicate')).code).toBe(64);
  });

  it('prints the version', async () => {
    expect((await cli('version')).stdout).toMatch(/^taupage \S+ \(\S+\)\n$/);
  });

  it('encrypts with the local dev key, and only that key decrypts it', async () => {
    const keyFile = join(dir, 'dev.key');
    const result = await cli('local', 'encrypt', '--dev-key-file', keyFile, 'hello-plaintext');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^aws:kms:[A-Za-z0-9+/=]+\n$/);
    expect(result.stdout).not.toContain('hello-plaintext');
  });
});
