import { optional, type FieldSpecs } from '../schema/object-nodes.js';
import { enumNode, sizeNode } from '../schema/scalar-nodes.js';
import type { SchemaNode } from '../schema/schema-node.js';
import type { LogrotateInterval, TaupageKeys } from '../taupage-config.js';

const SINCE = '0.3';
const INTERVALS: readonly LogrotateInterval[] = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'];

/** The value as read, with one warning that names the current spelling. */
function legacySpelling<V>(node: SchemaNode<V>, replacement: string): SchemaNode<V> {
  return {
    ...node,
    read(value, path, context) {
      const read = node.read(value, path, context);
      context.warning(
        path,
        `is the pre-2015 spelling of ${replacement}; read as ${replacement} when that is not set`,
      );
      return read;
    },
  };
}

/**
 * The 2015 spellings of `application_logrotate_size`/`_interval` (renamed in Taupage in 2015-09,
 * then silently ignored there). Real configs still carry them (corpus 028, 060), so they are read.
 */
export const APPLICATION_LOG_FIELDS = {
  applicationLogrotateFilesize: optional(
    'application_logrotate_filesize',
    legacySpelling(sizeNode('size (`10M`, `1G`)'), 'application_logrotate_size'),
    {
      meaning:
        'Old spelling of `application_logrotate_size`, read as it (with a warning) when that is not set.',
      since: SINCE,
      defaultText: '—',
    },
  ),
  applicationLogrotatePeriod: optional(
    'application_logrotate_period',
    legacySpelling(enumNode(INTERVALS), 'application_logrotate_interval'),
    {
      meaning:
        'Old spelling of `application_logrotate_interval`, read as it (with a warning) when that is not set.',
      since: SINCE,
      defaultText: '—',
    },
  ),
} satisfies Partial<FieldSpecs<TaupageKeys>>;
