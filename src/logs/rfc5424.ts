/** RFC 5424 severities by the names `rsyslog_severity` uses. */
export const SYSLOG_SEVERITIES = {
  emerg: 0,
  alert: 1,
  crit: 2,
  err: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
} as const;

export type SyslogSeverity = keyof typeof SYSLOG_SEVERITIES;

/** facility `user` (1): what fluentd's remote_syslog output used. */
export const FACILITY_USER = 1;

/** One SD-ELEMENT: `[id name="value" …]`. */
export interface StructuredDataElement {
  readonly id: string;
  readonly params: ReadonlyArray<readonly [string, string]>;
}

export interface SyslogHeader {
  readonly facility: number;
  readonly severity: SyslogSeverity;
  readonly hostname: string;
  readonly appName: string;
  readonly procId?: string;
  readonly msgId?: string;
  readonly structuredData?: readonly StructuredDataElement[];
}

/**
 * A header field: printable US-ASCII (33–126) only, at most `max` characters, `-` when empty
 * (RFC 5424 §6.2: HOSTNAME 255, APP-NAME 48, PROCID 128, MSGID 32).
 */
export function headerField(value: string | undefined, max: number): string {
  const clean = (value ?? '').replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** SD-NAME (SD-ID, PARAM-NAME): printable US-ASCII except `=`, space, `]`, `"`; 1–32 characters. */
export function sdName(value: string): string {
  const clean = value.replace(/[^\x21-\x7e]|[=\]"]/g, '_').slice(0, 32);
  return clean === '' ? '_' : clean;
}

/** PARAM-VALUE escaping (RFC 5424 §6.3.3): `"`, `\` and `]` get a backslash. */
export function escapeParamValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

export function formatStructuredData(elements: readonly StructuredDataElement[] | undefined): string {
  if (elements === undefined || elements.length === 0) return '-';
  return elements
    .map(
      (element) =>
        `[${sdName(element.id)}${element.params
          .map(([name, value]) => ` ${sdName(name)}="${escapeParamValue(value)}"`)
          .join('')}]`,
    )
    .join('');
}

/**
 * Everything of an RFC 5424 message before MSG, ending in the space before it:
 * `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA `. The timestamp is UTC with
 * milliseconds.
 */
export function rfc5424Prefix(header: SyslogHeader, timestamp: number): string {
  const pri = header.facility * 8 + SYSLOG_SEVERITIES[header.severity];
  return [
    `<${String(pri)}>1`,
    new Date(timestamp).toISOString(),
    headerField(header.hostname, 255),
    headerField(header.appName, 48),
    headerField(header.procId, 128),
    headerField(header.msgId, 32),
    formatStructuredData(header.structuredData),
    '',
  ].join(' ');
}

/** RFC 6587 octet-counting framing: `<length in bytes> <message>`. */
export function octetCounted(message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${String(message.length)} `, 'ascii'), message]);
}
