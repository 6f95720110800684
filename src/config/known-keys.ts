/**
 * Keys of the original Taupage (../shared/reference/taupage-original.md §2) that this version
 * accepts but does not act on yet. They get a warning saying so — never an error, since real
 * configs carry them. Keys in neither list get an "unknown key" warning.
 */
export const NOT_YET_IMPLEMENTED_KEYS: ReadonlySet<string> = new Set([
  // A. container runtime options (container runtime issue)
  'privileged',
  'read_only',
  'shm_size',
  'hostname',
  'networking',
  'capabilities_add',
  'capabilities_drop',
  'docker_daemon_access',
  'mount_var_log',
  'mount_custom_log',
  'mount_certs',
  'shutdown',
  'docker',
  // B. credentials and token info
  'mint_bucket',
  'tokeninfo_url',
  'local_planb_tokeninfo',
  'upstream_tokeninfo_url',
  'access_token_url',
  'openid_provider_configuration_url',
  'revocation_provider_url',
  'tokeninfo_business_partners',
  'local_planb_tokeninfo_introspection',
  'local_planb_tokeninfo_lightstep_token',
  'deployment_id',
  'oauth_access_token_url',
  'token_service_url',
  // C. logging
  'logging',
  'scalyr_account_key',
  'scalyr_region',
  'scalyr_application_log_parser',
  'scalyr_custom_log_parser',
  'rsyslog_application_log_format',
  'rsyslog_max_message_size',
  'rsyslog_aws_metadata',
  'application_logrotate_size',
  'application_logrotate_interval',
  'application_logrotate_rotate',
  'application_logrotate_disable_copytruncate',
  'application_logrotate_disable_delaycompress',
  'application_logrotate_disable_compress',
  'customlog_logrotate_size',
  'customlog_logrotate_interval',
  'customlog_logrotate_rotate',
  'cloudwatch_logs',
  'instance_logs_url',
  'logsink_username',
  'logsink_password',
  // D. metrics
  'enhanced_cloudwatch_metrics',
  'xray_enabled',
  'newrelic_account_key',
  // E. SSH
  'ssh_ports',
  'ssh_gateway_ports',
  'keep_instance_users',
  // F. disks
  'volumes',
  'mounts',
  // G. networking
  'nat_gateways',
  'etcd_discovery_domain',
  // H. OS tuning
  'sysctl',
  'sysfs',
  // I. health and notification
  'healthcheck',
  'notify_cfn',
  // J. third-party agents
  'appdynamics_application',
  'appdynamics_account_name',
  'appdynamics_account_access_key',
  'appdynamics_account_globalname',
  'appdynamics_enable_logging',
  'appdynamics_machineagent_tiername',
  'appdynamics_include_scala_classes',
  'nodejs_disable_snapshots',
  'opa_enabled',
  'opa_host_url',
  'opa_service_url',
  'opa_iam_role',
  'opa_service_name',
]);

/** Keys that were renamed; the warning names the new spelling. */
export const RENAMED_KEYS: ReadonlyMap<string, string> = new Map([
  ['readonly', 'read_only'],
  ['application_name', 'application_id'],
  ['application_logrotate_filesize', 'application_logrotate_size'],
  ['application_logrotate_period', 'application_logrotate_interval'],
  ['tokeninfo_enable_introspection', 'local_planb_tokeninfo_introspection'],
  ['tokeninfo_introspection', 'local_planb_tokeninfo_introspection'],
  ['etcd_discovery_url', 'etcd_discovery_domain'],
]);
