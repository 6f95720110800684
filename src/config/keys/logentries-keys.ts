import { secretTextNode } from '../schema/scalar-nodes.js';
import { optional, type FieldSpecs } from '../schema/object-nodes.js';
import type { TaupageKeys } from '../taupage-config.js';

/**
 * Logentries (now Rapid7 InsightOps) through its token-based input: every line is sent with the
 * log's token in front. The original's 2015 keys; `logentries_account_key` (registration of the
 * `le` agent) is an ignored key with a warning that names these instead (ignored-keys.ts).
 */
const SINCE = '0.2';

export const LOGENTRIES_FIELDS = {
  logentriesTokenId: optional('logentries_token_id', secretTextNode(), {
    meaning:
      'Logentries / InsightOps log token (Token TCP input; may be `aws:kms:`): the app output, syslog and auth.log go to that log over TLS (`--logentries-endpoint`).',
    since: SINCE,
    defaultText: '—',
  }),
  logentriesTokenid: optional('logentries_tokenid', secretTextNode(), {
    meaning: 'Other spelling of `logentries_token_id` (that one wins when both are set).',
    since: SINCE,
    defaultText: '—',
  }),
} satisfies Partial<FieldSpecs<TaupageKeys>>;
