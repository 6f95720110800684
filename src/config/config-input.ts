import { TaupageError } from '../core/errors.js';
import type { MutableTagPolicy } from './image-reference.js';
import { byLine, type ConfigIssue } from './issues.js';
import { mergeDefaults, userDataNotes } from './load-config.js';
import { findTaupageConfigs, isTaupageConfigContainer, valueAt } from './senza-definition.js';
import { decodeUserData, type DecodedUserData } from './user-data.js';
import { validateConfig } from './validate-config.js';
import { parseYamlDocument, YamlSyntaxError, type YamlDocument } from './yaml-document.js';

export type InputKind = 'taupage-config' | 'senza-definition';

export interface InputCheck {
  readonly kind: InputKind | undefined;
  /** TaupageConfig blocks checked (1 for a bare config or user data). */
  readonly configs: number;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

export interface InputOptions {
  /** AMI defaults merged under every config (shallow), as at boot. */
  readonly defaults: Readonly<Record<string, unknown>>;
  /**
   * true (the default for `validate`): configs as written, where Senza placeholders and
   * CloudFormation functions are opaque. false: rendered user data, exactly as at boot.
   */
  readonly template: boolean;
  /** The AMI's policy for mutable image tags; `reject` unless set. */
  readonly mutableTags?: MutableTagPolicy;
}

/**
 * What `taupage validate` checks for one file: a bare taupage.yaml; user data (with the
 * `#taupage-ami-config` line, gzip, or MIME multipart); or a whole Senza definition, where every
 * `TaupageConfig` block is checked where it sits. Never throws for bad input: a file that is
 * not YAML is one located error.
 */
export function checkConfigInput(bytes: Uint8Array, options: InputOptions): InputCheck {
  let decoded: DecodedUserData;
  try {
    decoded = decodeUserData(bytes);
  } catch (error) {
    if (error instanceof TaupageError && error.code === 'USER_DATA_INVALID')
      return failed({ path: '(root)', message: error.message });
    throw error;
  }
  let document: YamlDocument;
  try {
    document = parseYamlDocument(decoded.yaml, { lineOffset: decoded.lineOffset });
  } catch (error) {
    if (!(error instanceof YamlSyntaxError)) throw error;
    return failed({ path: '(root)', message: `not valid YAML: ${error.reason}`, ...(error.position ?? {}) });
  }
  const notes = userDataNotes(decoded);

  if (!isTaupageConfigContainer(document.value)) {
    const validation = validateConfig(mergeDefaults(document.value, options.defaults), {
      document,
      template: options.template,
      digest: false,
      ...(options.mutableTags === undefined ? {} : { mutableTags: options.mutableTags }),
    });
    return {
      kind: 'taupage-config',
      configs: 1,
      errors: validation.errors,
      warnings: [...notes, ...validation.warnings],
    };
  }
  const blocks = findTaupageConfigs(document.value);
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [...notes];
  if (blocks.length === 0)
    warnings.push({
      path: '(root)',
      message: 'is a Senza definition without a TaupageConfig block; nothing to check',
    });
  for (const prefix of blocks) {
    const block = mergeDefaults(valueAt(document.value, prefix), options.defaults);
    const validation = validateConfig(block, {
      document,
      prefix,
      template: options.template,
      digest: false,
      ...(options.mutableTags === undefined ? {} : { mutableTags: options.mutableTags }),
    });
    errors.push(...validation.errors);
    warnings.push(...validation.warnings);
  }
  return {
    kind: 'senza-definition',
    configs: blocks.length,
    errors: byLine(errors),
    warnings: byLine(warnings),
  };
}

function failed(error: ConfigIssue): InputCheck {
  return { kind: undefined, configs: 0, errors: [error], warnings: [] };
}
