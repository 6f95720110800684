import { gunzipSync } from 'node:zlib';
import { TaupageError } from '../core/errors.js';
import { looksLikeMime, MimeError, parseMimeMultipart, type MimePart } from './mime-multipart.js';

export const TAUPAGE_HEADER = '#taupage-ami-config';
/** The very first Taupage test data used this header; cloud-init's handler took both. */
const LEGACY_HEADER = '#zalando-ami-config';
const TAUPAGE_CONTENT_TYPE = 'text/x-taupage-ami-config';

export interface DecodedUserData {
  /** The YAML text (the `#taupage-ami-config` line is a YAML comment). */
  readonly yaml: string;
  readonly compressed: boolean;
  readonly hadHeader: boolean;
  /** Lines before `yaml` in the user data (a MIME part), so positions match the file. */
  readonly lineOffset: number;
  /** Things worth a warning: ignored MIME parts, the legacy header. */
  readonly notes: readonly string[];
}

// EC2 caps raw user data at 16 KB, and gzip is how people fit more into it. Decompressed, a
// TaupageConfig is still small: 1 MiB stops a zip bomb long before it hurts.
const MAX_DECOMPRESSED_BYTES = 1024 * 1024;

/**
 * User data → TaupageConfig YAML text. Accepts gzip-compressed user data, the
 * `#taupage-ami-config` first line Senza writes, and MIME multipart user data as cloud-init
 * builds it (the TaupageConfig part is used, other parts are named in a note). Refuses other
 * cloud-init formats by name, because the original silently ignored them and the app just never
 * started.
 */
export function decodeUserData(bytes: Uint8Array): DecodedUserData {
  let raw = Buffer.from(bytes);
  const compressed = isGzip(raw);
  if (compressed) {
    try {
      raw = gunzipSync(raw, { maxOutputLength: MAX_DECOMPRESSED_BYTES });
    } catch (error) {
      throw new TaupageError(
        'USER_DATA_INVALID',
        'User data looks gzip-compressed but cannot be decompressed',
        {
          cause: error,
        },
      );
    }
  }
  const text = utf8(raw, 'User data is neither UTF-8 text nor gzip');
  const firstLine = firstLineOf(text);
  if (looksLikeMime(firstLine)) return { ...fromMime(raw), compressed };
  return { ...fromText(text, 0, []), compressed };
}

function fromText(
  text: string,
  lineOffset: number,
  notes: readonly string[],
): Omit<DecodedUserData, 'compressed'> {
  const firstLine = firstLineOf(text);
  if (isHeader(firstLine, TAUPAGE_HEADER)) {
    // The header is a YAML comment: keep it, so line numbers match the file the user wrote.
    return { yaml: text, hadHeader: true, lineOffset, notes };
  }
  if (isHeader(firstLine, LEGACY_HEADER)) {
    return {
      yaml: text,
      hadHeader: true,
      lineOffset,
      notes: [...notes, `the first line ${LEGACY_HEADER} is the 2015 spelling of ${TAUPAGE_HEADER}`],
    };
  }
  const foreign = foreignFormat(firstLine);
  if (foreign !== undefined) {
    throw new TaupageError(
      'USER_DATA_INVALID',
      `User data is ${foreign}, not a TaupageConfig (its first line must be ${TAUPAGE_HEADER})`,
    );
  }
  return { yaml: text, hadHeader: false, lineOffset, notes };
}

function fromMime(raw: Buffer): Omit<DecodedUserData, 'compressed'> {
  let parts: MimePart[];
  try {
    parts = parseMimeMultipart(raw, MAX_DECOMPRESSED_BYTES);
  } catch (error) {
    if (!(error instanceof MimeError)) throw error;
    throw new TaupageError(
      'USER_DATA_INVALID',
      `User data is a broken MIME multipart document: ${error.message}`,
      {
        cause: error,
      },
    );
  }
  const isTaupage = (part: MimePart) =>
    part.contentType === TAUPAGE_CONTENT_TYPE ||
    isHeader(firstLineOf(part.body.toString('utf8')), TAUPAGE_HEADER);
  const taupage = parts.filter(isTaupage);
  const others = parts.filter((part) => !isTaupage(part));
  const listed = others.map((part) => part.contentType).join(', ');
  if (taupage.length === 0) {
    throw new TaupageError(
      'USER_DATA_INVALID',
      `User data is a MIME multipart document without a TaupageConfig part (${TAUPAGE_CONTENT_TYPE}, or a part starting ${TAUPAGE_HEADER}); its parts: ${listed || 'none'}`,
    );
  }
  if (taupage.length > 1)
    throw new TaupageError(
      'USER_DATA_INVALID',
      `User data has ${taupage.length} TaupageConfig MIME parts; expected one`,
    );
  const [part] = taupage as [MimePart];
  const notes = others.map(
    (other) => `the MIME part ${other.contentType} is ignored: taupage reads only the TaupageConfig part`,
  );
  const text = utf8(part.body, 'The TaupageConfig MIME part is not UTF-8 text');
  return { yaml: text, hadHeader: true, lineOffset: part.lineOffset ?? 0, notes };
}

function isGzip(bytes: Buffer): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function utf8(bytes: Buffer, message: string): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new TaupageError('USER_DATA_INVALID', message, { cause: error });
  }
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

function firstLineOf(text: string): string {
  const end = text.indexOf('\n');
  return (end === -1 ? text : text.slice(0, end)).trim();
}

function isHeader(firstLine: string, header: string): boolean {
  return firstLine === header || firstLine.startsWith(`${header} `);
}

function foreignFormat(firstLine: string): string | undefined {
  if (firstLine.startsWith('#cloud-config')) return 'a cloud-init #cloud-config document';
  if (firstLine.startsWith('#!')) return 'a shell script';
  if (firstLine.startsWith('#include')) return 'a cloud-init #include list';
  if (firstLine.startsWith('#cloud-boothook')) return 'a cloud-init boothook';
  return undefined;
}
