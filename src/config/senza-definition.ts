import { isMapping } from './config-values.js';
import type { ConfigPath } from './yaml-document.js';

/**
 * Senza stack definitions carry the TaupageConfig inside components:
 *
 *   SenzaComponents:
 *     - Configuration: {Type: Senza::StupsAutoConfiguration}
 *     - AppServer: {Type: Senza::TaupageAutoScalingGroup, TaupageConfig: {runtime: Docker, …}}
 *
 * `validate` checks each block where it sits, so errors read
 * `SenzaComponents[1].AppServer.TaupageConfig.ports`.
 */
export const TAUPAGE_CONFIG_KEY = 'TaupageConfig';

const SENZA_KEYS = ['SenzaComponents', 'SenzaInfo'];
// Senza components sit at depth 3 (SenzaComponents[i].Name.TaupageConfig); leave room for
// CloudFormation-style templates without walking a whole hostile document.
const MAX_DEPTH = 8;

/** Whether a parsed document is a Senza definition (or another document holding TaupageConfig blocks). */
export function isTaupageConfigContainer(document: unknown): boolean {
  if (!isMapping(document)) return false;
  if (SENZA_KEYS.some((key) => Object.hasOwn(document, key)) || Object.hasOwn(document, TAUPAGE_CONFIG_KEY))
    return true;
  // A TaupageConfig itself has these; never read one as a container.
  if (Object.hasOwn(document, 'runtime') || Object.hasOwn(document, 'source')) return false;
  return findTaupageConfigs(document).length > 0;
}

/** Paths of every `TaupageConfig` value in the document, in document order. */
export function findTaupageConfigs(document: unknown): ConfigPath[] {
  const found: ConfigPath[] = [];
  const visit = (value: unknown, path: (string | number)[]): void => {
    if (path.length > MAX_DEPTH) return;
    if (Array.isArray(value)) {
      value.forEach((item, index) => {
        visit(item, [...path, index]);
      });
    } else if (isMapping(value)) {
      for (const [key, item] of Object.entries(value)) {
        if (key === TAUPAGE_CONFIG_KEY) found.push([...path, key]);
        else visit(item, [...path, key]);
      }
    }
  };
  visit(document, []);
  return found;
}

export function valueAt(document: unknown, path: ConfigPath): unknown {
  let value = document;
  for (const part of path) {
    if (Array.isArray(value) && typeof part === 'number') value = value[part];
    else if (isMapping(value) && typeof part === 'string' && Object.hasOwn(value, part)) value = value[part];
    else return undefined;
  }
  return value;
}
