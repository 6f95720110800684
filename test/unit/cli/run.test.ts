import { describe, expect, it } from 'vitest';
import { snapshotArgv } from '../../../src/cli/run.js';

describe('the arguments of a process started from the V8 startup snapshot', () => {
  it('skips the bundle path the unit keeps on the command line', () => {
    expect(snapshotArgv(['/usr/local/bin/node', '/opt/taupage/taupage.mjs', 'agent', '--x', '1'])).toEqual([
      'agent',
      '--x',
      '1',
    ]);
    expect(snapshotArgv(['node', 'taupage.mjs', 'version'])).toEqual(['version']);
  });

  it('takes every argument when no bundle path comes first', () => {
    expect(snapshotArgv(['node', 'agent', '/opt/taupage/taupage.mjs'])).toEqual([
      'agent',
      '/opt/taupage/taupage.mjs',
    ]);
    expect(snapshotArgv(['node'])).toEqual([]);
    expect(snapshotArgv(['node', 'not-taupage.mjs.bak'])).toEqual(['not-taupage.mjs.bak']);
  });
});
