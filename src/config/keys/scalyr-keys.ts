import { isMapping } from '../config-values.js';
import {
  booleanNode,
  decimalNode,
  enumNode,
  found,
  secretTextNode,
  stringNode,
  TEMPLATE_REF,
} from '../schema/scalar-nodes.js';
import { optional, type FieldSpecs, type KeyDoc } from '../schema/object-nodes.js';
import { INVALID, type SchemaNode } from '../schema/schema-node.js';
import { isTemplateValue } from '../schema/template-values.js';
import type { LoggingOptions, SamplingRule, TaupageKeys } from '../taupage-config.js';
import { parseYamlDocument, YamlSyntaxError } from '../yaml-document.js';

/**
 * The Scalyr keys (../shared/reference/taupage-original.md §2 C, §5.2): the write key, region and
 * parsers at the top level (legacy) and under `logging:` (which wins), and the scalyr-agent-2
 * switches and sampling rules under `logging:`. The destination is src/logs/scalyr-destination.ts.
 */

const SINCE = '0.2';
const doc = (meaning: string, defaultText?: string): KeyDoc =>
  defaultText === undefined ? { meaning, since: SINCE } : { meaning, since: SINCE, defaultText };

const REGIONS = ['eu', 'us'] as const;

function parserName(): SchemaNode<string> {
  return stringNode({ docType: 'Scalyr parser name' });
}

/**
 * Scalyr sampling rules: a list of `{match_expression, sampling_rate}`. The original accepted
 * them only as a *string* holding YAML (a real list was ignored with a warning); both work here.
 * A match expression is a regular expression (the agent's), checked here.
 */
function samplingRulesNode(): SchemaNode<readonly SamplingRule[]> {
  const rate = decimalNode({ min: 0, max: 1, docType: 'rate 0–1' });
  return {
    docType: 'list of `{match_expression, sampling_rate}` (or that list as a YAML string)',
    read(value, path, context) {
      if (context.template && isTemplateValue(value)) return INVALID;
      let list = value;
      if (typeof value === 'string') {
        try {
          list = parseYamlDocument(value).value;
        } catch (error) {
          if (!(error instanceof YamlSyntaxError)) throw error;
          context.error(
            path,
            `expected a YAML list of sampling rules, found text that is not YAML (${error.reason})`,
          );
          return INVALID;
        }
      }
      if (!Array.isArray(list)) {
        context.error(
          path,
          `expected a list of {match_expression, sampling_rate}, found ${found(list, path)}`,
        );
        return INVALID;
      }
      const rules: SamplingRule[] = [];
      let invalid = false;
      for (const [index, item] of (list as unknown[]).entries()) {
        const itemPath = [...path, index];
        if (!isMapping(item) || typeof item.match_expression !== 'string') {
          context.error(
            itemPath,
            `expected {match_expression: text, sampling_rate: 0–1}, found ${found(item, itemPath)}`,
          );
          invalid = true;
          continue;
        }
        try {
          new RegExp(item.match_expression);
        } catch (error) {
          context.error(
            [...itemPath, 'match_expression'],
            `expected a regular expression (${error instanceof Error ? error.message : String(error)})`,
          );
          invalid = true;
          continue;
        }
        const samplingRate = rate.read(item.sampling_rate, [...itemPath, 'sampling_rate'], context);
        if (samplingRate === INVALID) invalid = true;
        else rules.push(Object.freeze({ matchExpression: item.match_expression, samplingRate }));
      }
      return invalid ? INVALID : Object.freeze(rules);
    },
    jsonSchema: () => ({
      anyOf: [
        { type: 'string' },
        {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              match_expression: { type: 'string' },
              sampling_rate: { type: 'number', minimum: 0, maximum: 1 },
            },
            required: ['match_expression', 'sampling_rate'],
          },
        },
        TEMPLATE_REF,
      ],
    }),
  };
}

type ScalyrLoggingKeys = Pick<
  LoggingOptions,
  | 'scalyrAccountKey'
  | 'scalyrRegion'
  | 'scalyrApplicationLogParser'
  | 'scalyrCustomLogParser'
  | 'scalyrAgentEnabled'
  | 'useScalyrAgentAll'
  | 'useScalyrAgentApplog'
  | 'useScalyrAgentCustomlog'
  | 'useScalyrAgentAuthlog'
  | 'useScalyrAgentSyslog'
  | 'scalyrAgentApplogSampling'
  | 'scalyrAgentCustomlogSampling'
  | 'scalyrAgentAuthlogSampling'
  | 'scalyrAgentSyslogSampling'
>;

const flag = (key: string, meaning: string, defaultText: string) =>
  optional(key, booleanNode(), doc(meaning, defaultText));
const sampling = (log: string, file: string) =>
  optional(
    `scalyr_agent_${log}_sampling`,
    samplingRulesNode(),
    doc(
      `Sampling rules for ${file} in Scalyr: the first rule whose regular expression matches a line keeps it with that probability.`,
      'none',
    ),
  );

/** The Scalyr keys under `logging:` (they win over the top-level spellings). */
export const SCALYR_LOGGING_FIELDS = {
  scalyrAccountKey: optional(
    'scalyr_account_key',
    secretTextNode(),
    doc(
      'Scalyr “Write Logs” key (may be `aws:kms:`); wins over the top-level key. Ships the logs to Scalyr (addEvents).',
      'top-level `scalyr_account_key`',
    ),
  ),
  scalyrRegion: optional(
    'scalyr_region',
    enumNode(REGIONS),
    doc(
      'Scalyr region: `eu` (https://upload.eu.scalyr.com) or `us` (https://app.scalyr.com); `--scalyr-endpoint` overrides it.',
      'top-level `scalyr_region`, else `eu`',
    ),
  ),
  scalyrApplicationLogParser: optional(
    'scalyr_application_log_parser',
    parserName(),
    doc('Scalyr `parser` of /var/log/application.log (the app output).', '`slf4j`'),
  ),
  scalyrCustomLogParser: optional(
    'scalyr_custom_log_parser',
    parserName(),
    doc('Scalyr `parser` of the custom logs.', '`slf4j`'),
  ),
  scalyrAgentEnabled: flag(
    'scalyr_agent_enabled',
    'Ship to Scalyr what the `use_scalyr_agent_*` switches say (the original’s scalyr-agent-2); it also needs a key.',
    'not fluentd_enabled',
  ),
  useScalyrAgentAll: flag(
    'use_scalyr_agent_all',
    'Default of the four use_scalyr_agent_* switches.',
    'not fluentd_enabled',
  ),
  useScalyrAgentApplog: flag(
    'use_scalyr_agent_applog',
    'Ship the app output (/var/log/application.log) to Scalyr.',
    'use_scalyr_agent_all',
  ),
  useScalyrAgentCustomlog: flag(
    'use_scalyr_agent_customlog',
    'Ship the custom logs to Scalyr (needs `mount_custom_log`).',
    'use_scalyr_agent_all',
  ),
  useScalyrAgentAuthlog: flag(
    'use_scalyr_agent_authlog',
    'Ship /var/log/auth.log to Scalyr.',
    'use_scalyr_agent_all',
  ),
  useScalyrAgentSyslog: flag(
    'use_scalyr_agent_syslog',
    'Ship /var/log/syslog to Scalyr.',
    'use_scalyr_agent_all',
  ),
  scalyrAgentApplogSampling: sampling('applog', 'the app output'),
  scalyrAgentCustomlogSampling: sampling('customlog', 'the custom logs'),
  scalyrAgentAuthlogSampling: sampling('authlog', 'auth.log'),
  scalyrAgentSyslogSampling: sampling('syslog', 'syslog'),
} satisfies FieldSpecs<ScalyrLoggingKeys>;

/** The legacy top-level Scalyr keys (`logging.*` wins). */
export const SCALYR_FIELDS = {
  scalyrAccountKey: optional(
    'scalyr_account_key',
    secretTextNode(),
    doc(
      'Scalyr “Write Logs” key (legacy top-level spelling of `logging.scalyr_account_key`); may be `aws:kms:`. Ships the app output, syslog, auth.log (and custom logs) to Scalyr.',
    ),
  ),
  scalyrRegion: optional(
    'scalyr_region',
    enumNode(REGIONS),
    doc('Scalyr region (legacy top-level spelling).', '`eu`'),
  ),
  scalyrApplicationLogParser: optional(
    'scalyr_application_log_parser',
    parserName(),
    doc('Scalyr parser of application.log (legacy top-level spelling).', '`slf4j`'),
  ),
  scalyrCustomLogParser: optional(
    'scalyr_custom_log_parser',
    parserName(),
    doc('Scalyr parser of custom logs (legacy top-level spelling).', '`slf4j`'),
  ),
} satisfies Partial<FieldSpecs<TaupageKeys>>;
