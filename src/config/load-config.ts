import { readFile } from 'node:fs/promises';
import { TaupageError } from '../core/errors.js';
import { isMapping } from './config-values.js';
import type { MutableTagPolicy } from './image-reference.js';
import type { ConfigIssue } from './issues.js';
import { decodeUserData, type DecodedUserData } from './user-data.js';
import { validateConfig, type ValidationResult } from './validate-config.js';
import { parseYamlDocument, YamlSyntaxError, type YamlDocument } from './yaml-document.js';

export interface LoadedConfig {
  /** User data merged onto the AMI defaults: what /meta/taupage.yaml holds. */
  readonly merged: unknown;
  readonly validation: ValidationResult;
}

/**
 * The AMI defaults under a config: its top-level keys replace the defaults' entirely (a shallow
 * merge, as the original's cloud-init handler did), except `logging`, merged key by key: the
 * AMI's log destinations (bucket, region, rsyslog host) are the site's, and a team that sets
 * one `*_destination` should not lose them (with the original, its logs then went to the
 * default `zalando-logging-<account>-<region>` bucket instead).
 */
const DEEP_MERGED = 'logging';

export function mergeDefaults(config: unknown, defaults: Readonly<Record<string, unknown>>): unknown {
  if (!isMapping(config)) return config;
  const merged: Record<string, unknown> = { ...defaults, ...config };
  const [ours, theirs] = [config[DEEP_MERGED], defaults[DEEP_MERGED]];
  if (isMapping(ours) && isMapping(theirs)) merged[DEEP_MERGED] = { ...theirs, ...ours };
  return merged;
}

/**
 * User data (bytes) → validated config, exactly as the agent reads it at boot (rendered user
 * data: `{{…}}` is plain text here), merged onto the AMI defaults (mergeDefaults).
 */
export function loadConfig(
  userData: Uint8Array,
  defaults: Readonly<Record<string, unknown>>,
  options: { readonly mutableTags?: MutableTagPolicy | undefined } = {},
): LoadedConfig {
  const decoded = decodeUserData(userData);
  const document = parseYaml(decoded.yaml, 'user data', decoded.lineOffset);
  const user = document.value;
  const merged = mergeDefaults(user, defaults);
  const validation = validateConfig(merged, {
    document,
    ...(options.mutableTags === undefined ? {} : { mutableTags: options.mutableTags }),
  });
  const notes: ConfigIssue[] = userDataNotes(decoded);
  if (!decoded.hadHeader && validation.errors.length === 0) {
    notes.push({
      path: '(root)',
      message: 'user data does not start with #taupage-ami-config; read as TaupageConfig anyway',
      line: 1,
      column: 1,
    });
  }
  return notes.length === 0
    ? { merged, validation }
    : { merged, validation: { ...validation, warnings: [...notes, ...validation.warnings] } };
}

/** Notes from decoding (ignored MIME parts, the legacy header) as warnings. */
export function userDataNotes(decoded: DecodedUserData): ConfigIssue[] {
  return decoded.notes.map((note) => ({ path: '(user data)', message: note }));
}

export function parseYaml(text: string, what: string, lineOffset = 0): YamlDocument {
  try {
    return parseYamlDocument(text, { lineOffset });
  } catch (error) {
    if (error instanceof YamlSyntaxError) {
      throw new TaupageError('USER_DATA_INVALID', `${what} is not valid YAML: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}

/** The AMI's defaults file (org settings baked at build time). Missing file = no defaults. */
export async function readDefaults(path: string | undefined): Promise<Record<string, unknown>> {
  if (path === undefined) return {};
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new TaupageError('CONFIG_UNREADABLE', `Cannot read the defaults file ${path}`, { cause: error });
  }
  const value = parseYaml(text, `defaults file ${path}`).value;
  if (value === null) return {};
  if (!isMapping(value))
    throw new TaupageError('CONFIG_INVALID', `defaults file ${path} must be a map of TaupageConfig keys`);
  return value;
}

export async function readConfigFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new TaupageError(
      'CONFIG_UNREADABLE',
      `Cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      {
        cause: error,
      },
    );
  }
}
