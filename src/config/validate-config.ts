import { configDigest } from './config-digest.js';
import {
  describeValue,
  isEncrypted,
  isMapping,
  isPlaceholder,
  isSensitiveName,
  readBoolean,
  readPort,
  scalarToString,
} from './config-values.js';
import { mutableTagReason, parseImageReference, type ImageReference } from './image-reference.js';
import { IssueCollector, type ConfigIssue } from './issues.js';
import { NOT_YET_IMPLEMENTED_KEYS, RENAMED_KEYS } from './known-keys.js';
import {
  KMS_PREFIX,
  type ConfigValue,
  type EnvironmentVariable,
  type HealthCheckConfig,
  type PortMapping,
  type RegistryCredential,
  type TaupageConfig,
} from './taupage-config.js';
import type { YamlDocument } from './yaml-document.js';

export interface ValidationResult {
  /** Present when there are no errors. */
  readonly config: TaupageConfig | undefined;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
  /** Digest of the merged raw config (ciphertexts only); see configDigest. */
  readonly digest: string;
}

const DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS = 60;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
// Kio's application id rule, which Senza also enforces.
const APPLICATION_ID = /^[a-z][a-z0-9-]*[a-z0-9]$/;

const HANDLED_KEYS = new Set([
  'runtime',
  'source',
  'application_id',
  'application_version',
  'environment',
  'ports',
  'root',
  'health_check_path',
  'health_check_port',
  'health_check_timeout_seconds',
  'dockercfg',
]);

/**
 * Validates a merged TaupageConfig and builds the typed config. Reports every problem at once;
 * messages never contain the value of an encrypted or secret-looking key.
 */
export function validateConfig(raw: unknown, document?: YamlDocument): ValidationResult {
  const issues = new IssueCollector(document);
  const digest = configDigest(raw);
  if (!isMapping(raw)) {
    issues.error([], `expected a map of TaupageConfig keys, found ${describeValue(raw)}`);
    return { config: undefined, errors: issues.errors, warnings: issues.warnings, digest };
  }

  for (const key of Object.keys(raw)) {
    if (HANDLED_KEYS.has(key)) continue;
    const renamed = RENAMED_KEYS.get(key);
    if (renamed !== undefined) issues.warning([key], `was renamed to ${renamed}; this spelling is ignored`);
    else if (NOT_YET_IMPLEMENTED_KEYS.has(key))
      issues.warning([key], 'is not supported by this taupage version yet; ignored');
    else issues.warning([key], 'is not a TaupageConfig key; ignored');
  }

  if (raw.runtime === undefined || raw.runtime === null)
    issues.error(['runtime'], 'is required (runtime: Docker)', 'key');
  else if (raw.runtime !== 'Docker')
    issues.error(['runtime'], `expected "Docker", found ${describeValue(raw.runtime)}`);

  const source = readSource(raw.source, issues);
  const applicationId = readApplicationId(raw.application_id, issues);
  const applicationVersion = readApplicationVersion(raw.application_version, issues);
  const environment = readEnvironment(raw.environment, issues);
  const ports = readPorts(raw.ports, issues);
  const root = readOptionalBoolean(raw, 'root', false, issues);
  const healthCheck = readHealthCheck(raw, ports, issues);
  const registryCredentials = readDockercfg(raw.dockercfg, issues);

  const errors = byLine(issues.errors);
  const warnings = byLine(issues.warnings);
  if (errors.length > 0 || source === undefined) return { config: undefined, errors, warnings, digest };
  const config: TaupageConfig = Object.freeze({
    runtime: 'Docker',
    source,
    applicationId,
    applicationVersion,
    environment,
    ports,
    root,
    healthCheck,
    registryCredentials,
  });
  return { config, errors, warnings, digest };
}

/** In file order, the way a reader goes through them (object key order puts `8080` before `abc`). */
function byLine(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort(
    (a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER),
  );
}

function readSource(value: unknown, issues: IssueCollector): ImageReference | undefined {
  if (value === undefined || value === null) {
    issues.error(['source'], 'is required (the Docker image, e.g. registry.example.org/team/app:1.0)', 'key');
    return undefined;
  }
  if (typeof value !== 'string') {
    issues.error(['source'], `expected an image reference string, found ${describeValue(value)}`);
    return undefined;
  }
  const parsed = parseImageReference(value);
  if (!parsed.ok) {
    issues.error(['source'], parsed.message);
    return undefined;
  }
  const mutable = mutableTagReason(parsed.reference);
  if (mutable !== undefined) {
    issues.error(['source'], `${mutable}; use an immutable version tag or a @sha256: digest`);
    return undefined;
  }
  return parsed.reference;
}

function readApplicationId(value: unknown, issues: IssueCollector): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    issues.error(['application_id'], `expected a string, found ${describeValue(value)}`);
    return undefined;
  }
  if (!APPLICATION_ID.test(value) && !isPlaceholder(value)) {
    issues.error(
      ['application_id'],
      `expected lowercase letters, digits and dashes (kio id), found ${describeValue(value)}`,
    );
  }
  return value;
}

function readApplicationVersion(value: unknown, issues: IssueCollector): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') {
    issues.warning(
      ['application_version'],
      `YAML read this as the number ${value}; quote it ("…") to keep it exactly as written (1.10 would become 1.1)`,
    );
    return String(value);
  }
  const text = scalarToString(value);
  if (text === undefined)
    issues.error(['application_version'], `expected a string, found ${describeValue(value)}`);
  return text;
}

function readConfigValue(
  path: (string | number)[],
  value: unknown,
  issues: IssueCollector,
): ConfigValue | undefined {
  if (isEncrypted(value)) {
    const base64 = value.slice(KMS_PREFIX.length);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) {
      issues.error(path, 'expected aws:kms: followed by a base64 KMS ciphertext, found malformed base64');
      return undefined;
    }
    return { kind: 'encrypted', ciphertext: Buffer.from(base64, 'base64') };
  }
  const text = scalarToString(value);
  if (text === undefined) {
    const name = String(path.at(-1));
    issues.error(path, `expected a text value, found ${describeValue(value, isSensitiveName(name))}`);
    return undefined;
  }
  return { kind: 'plain', value: text };
}

function readEnvironment(value: unknown, issues: IssueCollector): EnvironmentVariable[] {
  if (value === undefined || value === null) return [];
  if (!isMapping(value)) {
    issues.error(['environment'], `expected a map of NAME: value, found ${describeValue(value)}`);
    return [];
  }
  const variables: EnvironmentVariable[] = [];
  for (const [name, item] of Object.entries(value)) {
    const path = ['environment', name];
    if (!ENV_NAME.test(name)) {
      issues.error(
        path,
        'expected an environment variable name (letters, digits, _ . -; not starting with a digit)',
        'key',
      );
      continue;
    }
    // The original silently dropped `NAME: null`; say so instead.
    if (item === null || item === undefined) {
      issues.warning(path, 'has no value; it is not set in the container');
      continue;
    }
    const configValue = readConfigValue(path, item, issues);
    if (configValue !== undefined) variables.push({ name, value: configValue });
  }
  return variables;
}

function readPorts(value: unknown, issues: IssueCollector): PortMapping[] {
  if (value === undefined || value === null) return [];
  if (!isMapping(value)) {
    issues.error(['ports'], `expected a map of host_port: container_port, found ${describeValue(value)}`);
    return [];
  }
  const mappings: PortMapping[] = [];
  for (const [key, item] of Object.entries(value)) {
    const path = ['ports', key];
    const host = splitProtocol(key);
    const container = splitProtocol(typeof item === 'number' ? String(item) : item);
    if (host === undefined) {
      issues.error(path, `expected a host port like 8080 or 8080/udp, found ${describeValue(key)}`, 'key');
      continue;
    }
    if (container === undefined) {
      issues.error(path, `expected a container port like 8080 or 8080/udp, found ${describeValue(item)}`);
      continue;
    }
    if (
      host.protocol !== undefined &&
      container.protocol !== undefined &&
      host.protocol !== container.protocol
    ) {
      issues.error(path, `host port is ${host.protocol} but container port is ${container.protocol}`);
      continue;
    }
    mappings.push({
      hostPort: host.port,
      containerPort: container.port,
      protocol: host.protocol ?? container.protocol ?? 'tcp',
    });
  }
  return mappings;
}

function splitProtocol(value: unknown): { port: number; protocol: 'tcp' | 'udp' | undefined } | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^\s*(\d+)\s*(?:\/\s*(tcp|udp)\s*)?$/i.exec(value);
  if (match === null) return undefined;
  const port = readPort(match[1]);
  if (!port.ok) return undefined;
  const protocol = match[2]?.toLowerCase();
  return { port: port.value, protocol: protocol === 'udp' ? 'udp' : protocol === 'tcp' ? 'tcp' : undefined };
}

function readOptionalBoolean(
  raw: Record<string, unknown>,
  key: string,
  fallback: boolean,
  issues: IssueCollector,
): boolean {
  const value = raw[key];
  if (value === undefined || value === null) return fallback;
  const read = readBoolean(value);
  if (read.ok) return read.value;
  issues.error([key], `expected ${read.expected}, found ${describeValue(value)}`);
  return fallback;
}

function readHealthCheck(
  raw: Record<string, unknown>,
  ports: readonly PortMapping[],
  issues: IssueCollector,
): HealthCheckConfig | undefined {
  const path = raw.health_check_path;
  let port: number | undefined;
  if (raw.health_check_port !== undefined && raw.health_check_port !== null) {
    const read = readPort(raw.health_check_port);
    if (read.ok) port = read.value;
    else
      issues.error(
        ['health_check_port'],
        `expected ${read.expected}, found ${describeValue(raw.health_check_port)}`,
      );
  }
  let timeoutSeconds = DEFAULT_HEALTH_CHECK_TIMEOUT_SECONDS;
  const timeout = raw.health_check_timeout_seconds;
  // The original treated 0 and null as "use the default"; keep that.
  if (timeout !== undefined && timeout !== null && timeout !== 0) {
    const number = typeof timeout === 'string' && /^\s*\d+\s*$/.test(timeout) ? Number(timeout) : timeout;
    if (typeof number === 'number' && Number.isInteger(number) && number > 0 && number <= 86_400)
      timeoutSeconds = number;
    else
      issues.error(
        ['health_check_timeout_seconds'],
        `expected whole seconds from 1 to 86400, found ${describeValue(timeout)}`,
      );
  }
  if (path === undefined || path === null) return undefined;
  if (typeof path !== 'string' || !path.startsWith('/')) {
    issues.error(['health_check_path'], `expected a URL path starting with /, found ${describeValue(path)}`);
    return undefined;
  }
  port ??= lowestTcpHostPort(ports);
  if (port === undefined) {
    issues.warning(
      ['health_check_path'],
      'is set but there is no health_check_port and no TCP port in ports; not checked',
    );
    return undefined;
  }
  return { path, port, timeoutSeconds };
}

export function lowestTcpHostPort(ports: readonly PortMapping[]): number | undefined {
  const tcp = ports.filter((mapping) => mapping.protocol === 'tcp').map((mapping) => mapping.hostPort);
  return tcp.length === 0 ? undefined : Math.min(...tcp);
}

function readDockercfg(value: unknown, issues: IssueCollector): Map<string, RegistryCredential> {
  const credentials = new Map<string, RegistryCredential>();
  if (value === undefined || value === null) return credentials;
  if (!isMapping(value)) {
    issues.error(
      ['dockercfg'],
      `expected a map of registry: {auth: base64(user:password)}, found ${describeValue(value)}`,
    );
    return credentials;
  }
  for (const [registryUrl, entry] of Object.entries(value)) {
    const path = ['dockercfg', registryUrl];
    if (!isMapping(entry)) {
      issues.error(path, `expected a map with auth, found ${describeValue(entry, true)}`);
      continue;
    }
    const host = registryHost(registryUrl);
    if (isEncrypted(entry.auth)) {
      issues.error(
        [...path, 'auth'],
        'aws:kms: values are not supported in dockercfg auth by this taupage version yet',
      );
      continue;
    }
    if (typeof entry.auth !== 'string') {
      issues.error(
        [...path, 'auth'],
        `expected base64 of "user:password", found ${describeValue(entry.auth, true)}`,
      );
      continue;
    }
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(entry.auth)) {
      issues.error([...path, 'auth'], 'expected base64 of "user:password", found something else');
      continue;
    }
    credentials.set(host, {
      username: decoded.slice(0, colon),
      password: { kind: 'plain', value: decoded.slice(colon + 1) },
    });
  }
  return credentials;
}

/** `https://registry.example.org/v1/` → `registry.example.org`, as dockercfg keys were URLs. */
export function registryHost(registryUrl: string): string {
  return registryUrl.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
}
