import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { INTEGRATION_DEFAULTS, type IntegrationSettings } from '../app/integration-settings.js';
import { UsageError } from './output.js';

export interface IntegrationOptions {
  containerUser?: string;
  applicationLog: string;
  etcdEndpoint: string;
  etcdContainerUrl: string;
  dockerCli: string;
}

/** The flags of IntegrationSettings (`taupage agent`). */
export function addIntegrationOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--container-user <user>',
        'docker run --user for the app unless root: true (default: the uid of --application-user, the original’s -u 999; the group is the image’s)',
      ).env('TAUPAGE_CONTAINER_USER'),
    )
    .addOption(
      new Option(
        '--application-log <file|off>',
        'the app’s output as syslog lines, rotated by application_logrotate_* (what the original’s rsyslog wrote)',
      )
        .env('TAUPAGE_APPLICATION_LOG')
        .default(INTEGRATION_DEFAULTS.applicationLog),
    )
    .addOption(
      new Option(
        '--etcd-endpoint <url>',
        'instance-local etcd (v2 API) that etcd_discovery_domain registers with',
      )
        .env('TAUPAGE_ETCD_ENDPOINT')
        .default(INTEGRATION_DEFAULTS.etcdEndpoint),
    )
    .addOption(
      new Option(
        '--etcd-container-url <url>',
        'ETCD_URL in the app container when etcd_discovery_domain is set',
      )
        .env('TAUPAGE_ETCD_CONTAINER_URL')
        .default(INTEGRATION_DEFAULTS.etcdContainerUrl),
    )
    .addOption(
      new Option(
        '--docker-cli <file|off>',
        'Docker CLI bound read-only at /usr/bin/docker for docker_daemon_access (not bound when missing)',
      )
        .env('TAUPAGE_DOCKER_CLI')
        .default(INTEGRATION_DEFAULTS.dockerCli),
    );
}

export function integrationSettings(options: IntegrationOptions): IntegrationSettings {
  for (const [flag, value] of [
    ['--etcd-endpoint', options.etcdEndpoint],
    ['--etcd-container-url', options.etcdContainerUrl],
  ] as const) {
    if (!URL.canParse(value) || !/^https?:/.test(value))
      throw new UsageError(`${flag} expects an http(s) URL, not "${value}"`);
  }
  const user = options.containerUser;
  if (user !== undefined && !/^\d+(:\d+)?$/.test(user))
    throw new UsageError(`--container-user expects UID or UID:GID, not "${user}"`);
  const file = (value: string): string | undefined =>
    value === 'off' || value === '' ? undefined : resolve(value);
  const dockerCli = file(options.dockerCli);
  return {
    containerUser: user,
    applicationLog: file(options.applicationLog),
    etcdEndpoint: options.etcdEndpoint.replace(/\/+$/, ''),
    etcdContainerUrl: options.etcdContainerUrl,
    // A missing file would make Docker create an empty directory in its place.
    dockerCli: dockerCli !== undefined && existsSync(dockerCli) ? dockerCli : undefined,
  };
}
