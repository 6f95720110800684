import { configDigest } from './config-digest.js';
import { describeValue, isEncrypted, isMapping, readCiphertext } from './config-values.js';
import type { MutableTagPolicy } from './image-reference.js';
import { byLine, IssueCollector, type ConfigIssue } from './issues.js';
import { INVALID, type ReadContext } from './schema/schema-node.js';
import { isSupportedPath, TAUPAGE_SCHEMA } from './taupage-schema.js';
import { KMS_PREFIX } from './taupage-config.js';
import type {
  EncryptedValue,
  HealthCheckConfig,
  PortMapping,
  TaupageConfig,
  TaupageKeys,
} from './taupage-config.js';
import { formatPath, type ConfigPath, type YamlDocument } from './yaml-document.js';

export interface ValidationResult {
  /** Present when there are no errors (and, for templates, nothing was left unchecked). */
  readonly config: TaupageConfig | undefined;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
  /** Digest of the merged raw config (ciphertexts only); see configDigest. */
  readonly digest: string;
}

export interface ValidateOptions {
  /** Where the config came from, to give each issue a line and column. */
  readonly document?: YamlDocument;
  /** Where the config sits in `document` (a TaupageConfig block inside a Senza definition). */
  readonly prefix?: ConfigPath;
  /**
   * true for a config as written (a Senza definition, a taupage.yaml in a repository): Senza
   * placeholders and CloudFormation functions are opaque, and a malformed `aws:kms:` value is a
   * warning (docs and templates carry placeholder ciphertexts). false — the default — for
   * rendered user data, as the agent reads it at boot.
   */
  readonly template?: boolean;
  /** Skip the digest (`validate` has no use for it); `digest` is then ''. */
  readonly digest?: boolean;
  /** The AMI's policy for mutable image tags; `reject` (as the original) unless set. */
  readonly mutableTags?: MutableTagPolicy;
}

/**
 * Validates a merged TaupageConfig against the schema and builds the typed config. Reports every
 * problem at once; messages never contain the value of an encrypted or secret-looking key.
 */
export function validateConfig(raw: unknown, options: ValidateOptions = {}): ValidationResult {
  const prefix = options.prefix ?? [];
  const issues = new IssueCollector(options.document, prefix);
  const digest = options.digest === false ? '' : configDigest(raw);
  if (!isMapping(raw)) {
    issues.error([], `expected a map of TaupageConfig keys, found ${describeValue(raw)}`);
    return { config: undefined, errors: issues.errors, warnings: issues.warnings, digest };
  }
  const template = options.template ?? false;
  const context: ReadContext = {
    template,
    mutableTags: options.mutableTags ?? 'reject',
    error: (path, message, part) => {
      issues.error(path, message, part);
    },
    warning: (path, message, part) => {
      issues.warning(path, message, part);
    },
    unchecked: (path, expected) => {
      issues.warning(
        path,
        `not checked: a template placeholder or CloudFormation function stands where ${expected} is needed`,
        'value',
      );
    },
    sourceText: (path) => options.document?.sourceText([...prefix, ...path]),
  };

  for (const duplicate of options.document?.duplicateKeys ?? []) {
    if (prefix.every((part, index) => duplicate[index] === part))
      issues.warning(
        duplicate.slice(prefix.length),
        'is given twice in the same map; the last one is used (as PyYAML did)',
      );
  }
  const encryptedValues = collectEncryptedValues(raw, issues, template);
  const keys = TAUPAGE_SCHEMA.read(raw, [], context);
  const healthCheck = keys === INVALID ? undefined : deriveHealthCheck(keys, issues);

  const errors = byLine(issues.errors);
  const warnings = byLine(issues.warnings);
  if (issues.dropped > 0)
    warnings.push({ path: formatPath(prefix), message: `${issues.dropped} more issue(s) not shown` });
  if (errors.length > 0 || keys === INVALID) return { config: undefined, errors, warnings, digest };
  const config: TaupageConfig = Object.freeze({ ...keys, healthCheck, encryptedValues });
  return { config, errors, warnings, digest };
}

/** The local HTTP check: `health_check_path` on `health_check_port` or the lowest TCP host port. */
function deriveHealthCheck(keys: TaupageKeys, issues: IssueCollector): HealthCheckConfig | undefined {
  if (keys.healthCheckPath === undefined) return undefined;
  const port = keys.healthCheckPort ?? lowestTcpHostPort(keys.ports);
  if (port === undefined) {
    issues.warning(
      ['health_check_path'],
      'is set but there is no health_check_port and no TCP port in ports; not checked',
    );
    return undefined;
  }
  return Object.freeze({ path: keys.healthCheckPath, port, timeoutSeconds: keys.healthCheckTimeoutSeconds });
}

export function lowestTcpHostPort(ports: readonly PortMapping[]): number | undefined {
  const tcp = ports.filter((mapping) => mapping.protocol === 'tcp').map((mapping) => mapping.hostPort);
  return tcp.length === 0 ? undefined : Math.min(...tcp);
}

/**
 * Every `aws:kms:` string anywhere in the config — under known keys or not, in maps and lists —
 * for the boot's generic decryption. Each is checked for well-formed base64 without calling KMS.
 */
function collectEncryptedValues(
  raw: Record<string, unknown>,
  issues: IssueCollector,
  template: boolean,
): EncryptedValue[] {
  const found: EncryptedValue[] = [];
  const visit = (value: unknown, path: (string | number)[], required: boolean): void => {
    if (isEncrypted(value)) {
      const ciphertext = readCiphertext(value);
      if (ciphertext !== undefined)
        found.push(Object.freeze({ path: formatPath(path), ciphertext, required }));
      else if (template && holdsPlaceholder(value))
        issues.warning(
          path,
          'is not aws:kms: followed by well-formed base64 (a placeholder?); KMS will refuse it at boot',
          'value',
        );
      else if (template)
        issues.error(
          path,
          'expected aws:kms: followed by a base64 KMS ciphertext (or a Senza {{…}} placeholder), found malformed text',
        );
      else
        issues.error(path, 'expected aws:kms: followed by a base64 KMS ciphertext, found malformed base64');
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => {
        visit(item, [...path, index], required);
      });
    } else if (isMapping(value)) {
      for (const [key, item] of Object.entries(value))
        visit(item, [...path, key], required && isSupportedPath([...path, key]));
    }
  };
  for (const [key, value] of Object.entries(raw)) visit(value, [key], isSupportedPath([key]));
  return found;
}

/**
 * Whether a malformed `aws:kms:` value in a config as written stands for a ciphertext someone
 * fills in before the boot: a Senza `{{…}}` (or `<…>`, `${…}`) placeholder, an elision (`...`,
 * `…`), or a written stand-in of letters, digits and the few marks documentation uses for one
 * (`aws:kms:SECRET!!!`, `aws:kms:abcdef1234=`, real configs in ../shared/corpus do this). Text
 * that can be neither (`aws:kms:%%%`, nothing after the prefix, spaces) is an error: KMS would
 * refuse it at boot, and no rendering changes it.
 */
function holdsPlaceholder(value: string): boolean {
  const text = value.slice(KMS_PREFIX.length).trim();
  // \u2026 (…), not the character: see scripts/build.mjs (the bundle stays Latin-1).
  if (/\{\{[^}]*\}\}|<[^<>]+>|\$\{[^}]+\}|\.\.|\u2026/.test(text)) return true;
  return /[A-Za-z0-9]/.test(text) && /^[A-Za-z0-9+/=_:!.-]+$/.test(text);
}
