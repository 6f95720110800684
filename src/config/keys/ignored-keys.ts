import type { IgnoredKey } from '../schema/object-nodes.js';
import { booleanNode, secretTextNode, stringNode, urlNode } from '../schema/scalar-nodes.js';
import type { SchemaNode } from '../schema/schema-node.js';

/**
 * Keys of the original Taupage (../shared/reference/taupage-original.md §2 J–M) that this agent
 * accepts without acting on them: features of third-party agents it does not run, keys that were
 * renamed or removed, and proposals that were never merged. Each gets a warning naming the key;
 * none is ever an error, since real configs carry them. Their values are not checked (but an
 * `aws:kms:` value is still decrypted at boot, like every other).
 */

const SINCE = '0.2';
const text = (): SchemaNode<unknown> => stringNode({ docType: 'string' });
const flag = (): SchemaNode<unknown> => booleanNode();
const secret = (): SchemaNode<unknown> => secretTextNode();
const url = (): SchemaNode<unknown> => urlNode();

function thirdParty(
  feature: string,
  keys: readonly [string, () => SchemaNode<unknown>, string][],
): IgnoredKey[] {
  return keys.map(([key, node, meaning]) => ({
    key,
    kind: 'third-party',
    warning: `${feature} is not part of this taupage; accepted, ignored`,
    doc: { meaning, since: SINCE },
    node: node(),
  }));
}

function renamed(key: string, replacement: string, meaning: string): IgnoredKey {
  return {
    key,
    kind: 'renamed',
    replacement,
    warning: `was renamed to ${replacement}; this spelling is ignored`,
    doc: { meaning, since: SINCE },
  };
}

function removed(key: string, what: string, meaning: string): IgnoredKey {
  return {
    key,
    kind: 'removed',
    warning: `was removed from Taupage (${what}); ignored`,
    doc: { meaning, since: SINCE },
  };
}

function unmerged(key: string, what: string, meaning: string): IgnoredKey {
  return {
    key,
    kind: 'unmerged',
    warning: `was never part of Taupage (${what}); ignored`,
    doc: { meaning, since: SINCE },
  };
}

/**
 * The APM agents the original AMI bundled (or once did): their keys are accepted, and a config
 * that sets any of them gets one warning per agent that says it is not run.
 */
function apmAgent(agent: string, keys: readonly [string, () => SchemaNode<unknown>, string][]): IgnoredKey[] {
  return keys.map(([key, node, meaning]) => ({
    key,
    kind: 'third-party',
    group: agent,
    warning: `${agent}: the APM agent the original Taupage bundled is not part of this taupage; accepted, ignored`,
    doc: { meaning, since: SINCE },
    node: node(),
  }));
}

export const IGNORED_KEYS: readonly IgnoredKey[] = [
  // J. Third-party agents and platform services
  ...apmAgent('AppDynamics', [
    ['appdynamics_application', text, 'AppDynamics application name; enables the agents.'],
    ['appdynamics_account_name', text, 'AppDynamics multi-tenancy account.'],
    ['appdynamics_account_access_key', secret, 'AppDynamics account key; may be `aws:kms:`.'],
    ['appdynamics_account_globalname', secret, 'AppDynamics global account name; may be `aws:kms:`.'],
    ['appdynamics_enable_logging', flag, 'AppDynamics analytics log jobs.'],
    ['appdynamics_machineagent_tiername', text, 'AppDynamics machine agent tier.'],
    ['appdynamics_include_scala_classes', flag, 'Instrument Scala/Akka/Play classes.'],
    ['nodejs_disable_snapshots', flag, 'AppDynamics Node.js process snapshots off.'],
  ]),
  ...apmAgent('New Relic', [
    ['newrelic_account_key', secret, 'Mounts the baked New Relic Java agent.'],
    ['newrelic_license_key', secret, 'New Relic server monitor licence (2015).'],
  ]),
  ...apmAgent('Dynatrace (Ruxit)', [['ruxit_account_key', secret, 'Ruxit (Dynatrace) agent key (2015).']]),
  ...apmAgent('Instana', [
    ['instana_agent_key', secret, 'Instana agent key (2017).'],
    ['instana_zone', text, 'Instana zone.'],
    ['instana_tags', text, 'Instana tags.'],
    ['instana_agent_mode', text, 'Instana agent mode.'],
    ['instana_agent_host', text, 'Instana agent host.'],
    ['instana_agent_port', text, 'Instana agent port.'],
  ]),
  ...apmAgent('AWS X-Ray', [['xray_enabled', flag, 'Start the X-Ray daemon.']]),
  ...thirdParty('Plan B token info', [
    ['local_planb_tokeninfo', flag, 'Run a local Plan B token info on port 9021.'],
    ['local_planb_tokeninfo_introspection', flag, 'Token introspection in the local token info.'],
    ['local_planb_tokeninfo_lightstep_token', secret, 'Lightstep tracing token of the local token info.'],
    ['deployment_id', text, 'DEPLOYMENT_ID for the local token info.'],
    ['upstream_tokeninfo_url', url, 'Upstream token info of the local token info (baked).'],
    ['access_token_url', url, 'OAuth token endpoint of the local token info (baked).'],
    ['openid_provider_configuration_url', url, 'OpenID configuration of the local token info (baked).'],
    ['revocation_provider_url', url, 'Revocation provider of the local token info (baked).'],
    ['tokeninfo_business_partners', text, 'Business partners of the local token info (baked).'],
  ]),
  ...thirdParty('Open Policy Agent', [
    ['opa_enabled', flag, 'Run Open Policy Agent.'],
    ['opa_host_url', url, 'OPA listen address.'],
    ['opa_service_url', url, 'OPA bundle service.'],
    ['opa_iam_role', text, 'IAM role OPA signs bundle requests with.'],
    ['opa_service_name', text, 'OPA service name.'],
  ]),
  // K. Baked keys the original stopped using
  {
    key: 'oauth_access_token_url',
    kind: 'obsolete',
    warning: 'has not been used since 2017 (registry login uses the instance identity); ignored',
    doc: { meaning: 'OAuth token endpoint for the old Pier One login (baked).', since: SINCE },
  },
  {
    key: 'token_service_url',
    kind: 'obsolete',
    warning: 'has not been used since 2017 (registry login uses the instance identity); ignored',
    doc: { meaning: 'Token service for the old Pier One login (baked).', since: SINCE },
  },
  // L. Renamed and removed keys
  renamed('readonly', 'read_only', 'Read-only root filesystem (2015 spelling).'),
  renamed('application_name', 'application_id', 'Application id (earliest spelling).'),
  renamed(
    'tokeninfo_enable_introspection',
    'local_planb_tokeninfo_introspection',
    'Token introspection (2018).',
  ),
  renamed('tokeninfo_introspection', 'local_planb_tokeninfo_introspection', 'Token introspection (2018).'),
  renamed('etcd_discovery_url', 'etcd_discovery_domain', 'etcd discovery (2015).'),
  renamed('sysctl_entries', 'sysctl', 'Kernel parameters as one `name = value` string (2016 test data).'),
  // Rapid7 (InsightOps) has no account-key host registration any more (the `le` agent is gone);
  // its token-based input is what taupage speaks (logentries-keys.ts).
  {
    ...removed('logentries_account_key', 'Logentries, 2017', 'Logentries agent account key (`le register`).'),
    warning:
      'is ignored: Logentries (Rapid7 InsightOps) no longer registers hosts by account key; create a Token TCP log there and set logentries_token_id to its token (may be aws:kms:)',
  },
  removed('logentries_hostname', 'Logentries, 2017', 'Logentries host name.'),
  removed('logs_bucket', '2015; replaced by log-sink', 'Bucket for the taupage.yaml upload.'),
  removed(
    'use_iid_auth',
    '2017; instance-identity login became the default',
    'Opt-in instance-identity registry login.',
  ),
  removed('appdynamics_application_noinstall', '2016', 'AppDynamics without installing agents.'),
  removed(
    'rsyslog_application_hardlimit',
    'reverted in 2017',
    'rsyslog size limit that triggered logrotate.',
  ),
  removed('logrotate_interval_minutes', 'reverted in 2017', 'Custom logrotate cron interval.'),
  // M. Proposed, or in forks, but never merged
  unmerged(
    'disable_thp',
    'use sysfs: {/sys/kernel/mm/transparent_hugepage/enabled: never}',
    'Disable transparent huge pages.',
  ),
  unmerged('pull_ecr', 'an unmerged pull request', 'Log in to ECR before pulling.'),
  unmerged('pull_private', 'an unmerged pull request', 'Log in to a private registry before pulling.'),
  unmerged('docker_audit', 'a rejected pull request', 'Audit rules for Docker.'),
  unmerged('network_interfaces', 'an unmerged pull request', 'Attach extra network interfaces.'),
  unmerged('local_monitor', 'an unmerged pull request', 'Local InfluxDB monitoring.'),
  unmerged('telegraf', 'an unmerged pull request', 'Run telegraf.'),
  unmerged('cadvisor_enabled', 'an unmerged pull request', 'Run cAdvisor.'),
  unmerged('kinesis_logstream', 'an unmerged pull request', 'Ship logs to Kinesis.'),
  unmerged('cloudwatch_logs_logging', 'an unmerged pull request', 'Log the CloudWatch Logs agent itself.'),
  unmerged('scalyr_host', 'an unmerged pull request', 'Scalyr server host.'),
  unmerged('allow_docker_alongside_docker', 'an unmerged pull request', 'Docker socket access variant.'),
  unmerged('logstash', 'the ImmobilienScout24 fork', 'logstash shipping to Kinesis.'),
];
