import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  findTaupageConfigs,
  isTaupageConfigContainer,
  valueAt,
} from '../../../src/config/senza-definition.js';
import { decodeUserData } from '../../../src/config/user-data.js';
import { validateConfig } from '../../../src/config/validate-config.js';
import { parseYamlDocument } from '../../../src/config/yaml-document.js';
import { MASKED, registrationValue } from '../../../src/etcd/registration-document.js';
import { APPLICATION_SOURCE, planLogShipping } from '../../../src/logs/log-shipping-plan.js';
import { corpusDir } from '../../support/corpus.js';

// The real configs that use etcd_discovery_domain or a Scalyr key (../shared/corpus): each
// TaupageConfig block is read as at boot, then planned as the agent plans it — which local etcd
// it runs, what goes to Scalyr, what the etcd heartbeat publishes — so a change to those parts
// that would break a real config fails here.
const CORPUS_DIR = corpusDir();
const files = readdirSync(CORPUS_DIR)
  .filter((file) => /\.ya?ml$/.test(file))
  .filter((file) =>
    /etcd_discovery_domain|scalyr_account_key/.test(readFileSync(join(CORPUS_DIR, file), 'utf8')),
  )
  .sort();

interface Block {
  readonly file: string;
  readonly raw: Record<string, unknown>;
}

function blocks(file: string): Block[] {
  let document;
  try {
    const decoded = decodeUserData(readFileSync(join(CORPUS_DIR, file)));
    document = parseYamlDocument(decoded.yaml, { lineOffset: decoded.lineOffset });
  } catch {
    return []; // Not YAML (corpus.test.ts checks the one located error); nothing boots.
  }
  const value = document.value;
  const raws = isTaupageConfigContainer(value)
    ? findTaupageConfigs(value).map((prefix) => valueAt(value, prefix))
    : [value];
  return raws
    .filter((raw): raw is Record<string, unknown> => raw !== null && typeof raw === 'object')
    .map((raw) => ({ file, raw }));
}

const all = files.flatMap(blocks);
const identity = { region: 'eu-central-1', accountId: '123456789012' };

describe(`corpus configs with etcd_discovery_domain or a Scalyr key (${String(files.length)} files)`, () => {
  it('finds the files the corpus index names', () => {
    // 19 etcd_discovery_domain uses and dozens of Scalyr keys in the full collection; this corpus
    // holds a share of them.
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  it.each(all.map((block) => [block.file, block] as const))('%s: plans etcd and Scalyr', (_file, block) => {
    const { config } = validateConfig(block.raw, { template: true, digest: false });
    if (config === undefined) return; // Invalid by policy (corpus.test.ts names why); nothing boots.
    const domain = config.etcdDiscoveryDomain;
    if (domain !== undefined && !domain.includes('{{')) {
      // What the agent's local etcd does with it: a single node, or a proxy found by DNS SRV.
      expect(domain === 'disable' || /^[a-z0-9-]+(\.[a-z0-9-]+)*\.?$/i.test(domain), domain).toBe(true);
    }
    const plan = planLogShipping(config, identity);
    const key = config.logging?.scalyrAccountKey ?? config.scalyrAccountKey;
    if (key !== undefined) {
      expect(plan.scalyr, 'a Scalyr key ships somewhere').toBeDefined();
      const logs = Object.keys(plan.scalyr?.routes ?? {});
      expect(logs.length).toBeGreaterThan(0);
      if (config.logging === undefined) expect(logs).toContain(APPLICATION_SOURCE);
    }
    // The heartbeat's value: never the Scalyr key, never a password, never the environment.
    const published = JSON.parse(registrationValue(block.raw)) as Record<string, unknown>;
    expect(published).not.toHaveProperty('environment');
    if ('scalyr_account_key' in block.raw) expect(published.scalyr_account_key).toBe(MASKED);
    for (const [name, value] of Object.entries(block.raw))
      if (/pass|secret|token|key/i.test(name) && typeof value === 'string')
        expect(published[name]).toBe(MASKED);
  });
});
