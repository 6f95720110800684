import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The real-world TaupageConfig corpus lives next to the repository (../shared/corpus, where CI
 * puts it); TAUPAGE_CORPUS_DIR points elsewhere. A missing corpus fails the tests that need it
 * with this hint rather than letting them skip.
 */
export function corpusDir(): string {
  const dir = resolve(process.env.TAUPAGE_CORPUS_DIR ?? join(import.meta.dirname, '../../../shared/corpus'));
  if (!existsSync(dir)) throw new Error(`No TaupageConfig corpus at ${dir}: set TAUPAGE_CORPUS_DIR`);
  return dir;
}
