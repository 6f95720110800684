import { pino, type Logger, type DestinationStream } from 'pino';
import type { Redactor } from './redactor.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly level?: string;
  readonly redactor: Redactor;
  /** Where JSON lines go; stdout by default (journald under systemd). */
  readonly destination?: DestinationStream;
  /**
   * A second destination for the same lines, scrubbed the same way (the agent's own log as a
   * log source, `/var/log/taupage.log`). The first destination's output does not change.
   */
  readonly tee?: DestinationStream;
}

/**
 * The agent's logger: JSON lines, one child per component (`{component: "docker"}`).
 * Key-based redaction covers the obvious places; every serialised line is then scrubbed of
 * all registered plaintexts (see Redactor).
 */
export function createLogger(options: LoggerOptions): Logger {
  const { redactor } = options;
  const destination = options.destination ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'taupage' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['password', '*.password', 'auth', '*.auth', 'secret', '*.secret', 'env', '*.env'],
        censor: '[redacted]',
      },
      hooks: { streamWrite: (line) => redactor.scrub(line) },
    },
    options.tee === undefined
      ? destination
      : // Both at the lowest level: the logger's own level is the only filter. The streamWrite
        // hook runs before the multistream, so both get the scrubbed line.
        pino.multistream([
          { level: 'trace', stream: destination },
          { level: 'trace', stream: options.tee },
        ]),
  );
}
