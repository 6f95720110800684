import { readFile } from 'node:fs/promises';
import { load, YAML11_SCHEMA } from 'js-yaml';
import { TaupageError } from '../core/errors.js';

/**
 * The AMI-level settings of the forced command, baked at AMI build time into
 * /etc/ssh-access-granting-service.yaml (the original's file and keys, plus the lifetimes).
 * Never from user data: whoever launches an instance must not pick the key server.
 */
export interface GrantingServiceConfig {
  /** even's base URL; keys come from `<url>/public-keys/<user>/sshkey.pub`. HTTPS only. */
  readonly url: string;
  readonly userGroups: readonly string[];
  readonly defaultLifetimeMinutes: number;
  readonly maxLifetimeMinutes: number;
  /** Extra CA bundle (PEM) for the key server; tests use a self-signed one. */
  readonly caFile: string | undefined;
}

export const DEFAULT_GRANTING_SERVICE_CONFIG_FILE = '/etc/ssh-access-granting-service.yaml';
/** even's default lifetime (piu -t). */
const DEFAULT_LIFETIME_MINUTES = 60;
/** A working day: even allows a year, which on a host nobody watches is standing access. */
const DEFAULT_MAX_LIFETIME_MINUTES = 480;
const GROUP_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

function invalid(file: string, message: string): TaupageError {
  return new TaupageError('CONFIG_INVALID', `${file}: ${message}`);
}

function minutes(file: string, raw: Record<string, unknown>, key: string, fallback: number): number {
  const value = raw[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw invalid(file, `${key} must be a whole number of minutes (1 or more)`);
  return value;
}

export function parseGrantingServiceConfig(text: string, file: string): GrantingServiceConfig {
  const raw: unknown = load(text, { schema: YAML11_SCHEMA });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw invalid(file, 'expected a mapping');
  const fields = raw as Record<string, unknown>;
  const url = fields.ssh_access_granting_service_url;
  if (typeof url !== 'string' || !URL.canParse(url) || new URL(url).protocol !== 'https:')
    throw invalid(file, 'ssh_access_granting_service_url must be an https:// URL');
  const groups = fields.user_groups ?? [];
  if (
    !Array.isArray(groups) ||
    !groups.every((g): g is string => typeof g === 'string' && GROUP_NAME.test(g))
  )
    throw invalid(file, 'user_groups must be a list of group names');
  const defaultLifetimeMinutes = minutes(file, fields, 'default_lifetime_minutes', DEFAULT_LIFETIME_MINUTES);
  const maxLifetimeMinutes = minutes(file, fields, 'max_lifetime_minutes', DEFAULT_MAX_LIFETIME_MINUTES);
  const caFile = fields.ca_file;
  if (caFile !== undefined && typeof caFile !== 'string') throw invalid(file, 'ca_file must be a path');
  return {
    url: url.replace(/\/+$/, ''),
    userGroups: groups,
    defaultLifetimeMinutes: Math.min(defaultLifetimeMinutes, maxLifetimeMinutes),
    maxLifetimeMinutes,
    caFile,
  };
}

export async function readGrantingServiceConfig(file: string): Promise<GrantingServiceConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new TaupageError('CONFIG_UNREADABLE', `Cannot read ${file}`, { cause: error });
  }
  return parseGrantingServiceConfig(text, file);
}
