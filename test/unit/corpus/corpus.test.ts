import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkConfigInput } from '../../../src/config/config-input.js';
import { corpusDir } from '../../support/corpus.js';
import { CORPUS_EXPECTATIONS, POLICY_ERROR } from './corpus-expectations.js';

const CORPUS_DIR = corpusDir();
const files = readdirSync(CORPUS_DIR)
  .filter((file) => /\.ya?ml$/.test(file))
  .sort();
const check = (file: string, template = true) =>
  checkConfigInput(readFileSync(join(CORPUS_DIR, file)), { defaults: {}, template });

describe(`real-world corpus (${CORPUS_DIR})`, () => {
  it('has an expectation for every file the table names', () => {
    const missing = Object.keys(CORPUS_EXPECTATIONS).filter((file) => !files.includes(file));
    expect(missing).toEqual([]);
  });

  describe.each(Object.entries(CORPUS_EXPECTATIONS))('%s', (file, expectation) => {
    it(`is ${expectation.outcome === 'valid' ? 'valid' : `${expectation.outcome}: ${expectation.why}`}`, () => {
      const result = check(file);
      switch (expectation.outcome) {
        case 'valid':
          expect(result.errors).toEqual([]);
          break;
        case 'errors':
          expect(result.errors.map((error) => error.path)).toEqual(expectation.paths);
          for (const error of result.errors) {
            expect(error.message).toMatch(POLICY_ERROR);
            expect(error.line).toBeTypeOf('number');
          }
          break;
        case 'parse-error':
          expect(result.errors).toEqual([
            {
              path: '(root)',
              message: expect.stringMatching(/^not valid YAML: /) as unknown,
              line: expectation.line,
              column: expect.any(Number) as unknown,
            },
          ]);
          break;
      }
    });
  });

  // Files added to the corpus after this table was written: the README's rule, without a table.
  const unlisted = files.filter((file) => !(file in CORPUS_EXPECTATIONS));
  it.each(unlisted.length > 0 ? unlisted : ['(none)'])(
    'unlisted file %s is accepted, or fails only by policy',
    (file) => {
      if (file === '(none)') return;
      const result = check(file);
      for (const error of result.errors) {
        if (error.path === '(root)')
          expect(error).toMatchObject({
            message: expect.stringMatching(/^not valid YAML/) as unknown,
            line: expect.any(Number) as unknown,
          });
        else expect(error.message).toMatch(POLICY_ERROR);
      }
    },
  );

  it('never throws, also when read as rendered user data (as at boot)', () => {
    for (const file of files) {
      expect(() => check(file, false), file).not.toThrow();
    }
  });
});
