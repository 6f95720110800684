import { gunzipSync } from 'node:zlib';

/**
 * MIME multipart user data, as cloud-init writes it (`cloud-init devel make-mime`, Terraform's
 * `cloudinit_config`, `write-mime-multipart`): a `Content-Type: multipart/mixed; boundary=…`
 * header block, then parts, each with its own headers and a body that may be base64 or
 * quoted-printable, and may be gzip-compressed.
 */
export interface MimePart {
  /** Lower case, without parameters, e.g. `text/x-taupage-ami-config`; `text/plain` by default. */
  readonly contentType: string;
  readonly body: Buffer;
  /** Lines before the body in the whole document, when the body is stored as is. */
  readonly lineOffset: number | undefined;
}

export class MimeError extends Error {
  override readonly name = 'MimeError';
}

const MAX_PARTS = 100;
const MAX_NESTING = 3;

/** Whether the text starts like a MIME document (its first line is a MIME header). */
export function looksLikeMime(firstLine: string): boolean {
  return /^content-type:/i.test(firstLine) || /^mime-version:/i.test(firstLine);
}

export function parseMimeMultipart(bytes: Buffer, maxDecompressedBytes: number): MimePart[] {
  // latin1 keeps every byte as one character, so offsets and base64 bodies survive.
  return parseEntity(bytes.toString('latin1'), 0, 0, maxDecompressedBytes);
}

function parseEntity(text: string, lineBase: number, depth: number, maxBytes: number): MimePart[] {
  const { headers, bodyStart } = parseHeaders(text);
  const contentType = headers.get('content-type') ?? 'text/plain';
  const type = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? 'text/plain';
  if (!type.startsWith('multipart/')) {
    const body = text.slice(bodyStart);
    const lines = lineBase + countLines(text.slice(0, bodyStart));
    return [decodeBody(type, headers.get('content-transfer-encoding'), body, lines, maxBytes)];
  }
  if (depth >= MAX_NESTING) throw new MimeError('MIME parts are nested too deeply');
  const boundary = /boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  const marker = boundary?.[1] ?? boundary?.[2];
  if (marker === undefined) throw new MimeError(`${type} without a boundary parameter`);
  const parts: MimePart[] = [];
  const delimiter = `--${marker}`;
  let position = text.indexOf(delimiter, bodyStart);
  if (position === -1) throw new MimeError(`no part starts with the boundary ${JSON.stringify(marker)}`);
  while (position !== -1) {
    const lineEnd = text.indexOf('\n', position);
    if (text.startsWith(`${delimiter}--`, position) || lineEnd === -1) break;
    const start = lineEnd + 1;
    let end = text.indexOf(`\n${delimiter}`, start);
    const next = end === -1 ? -1 : end + 1;
    if (end === -1) end = text.length;
    const partText = text.slice(start, end).replace(/\r$/, '');
    parts.push(...parseEntity(partText, lineBase + countLines(text.slice(0, start)), depth + 1, maxBytes));
    if (parts.length > MAX_PARTS) throw new MimeError(`more than ${MAX_PARTS} MIME parts`);
    position = next;
  }
  return parts;
}

function parseHeaders(text: string): { headers: Map<string, string>; bodyStart: number } {
  const headers = new Map<string, string>();
  const blank = /\r?\n\r?\n/.exec(text);
  const headerEnd = blank === null ? text.length : blank.index;
  const bodyStart = blank === null ? text.length : blank.index + blank[0].length;
  let last: string | undefined;
  for (const line of text.slice(0, headerEnd).split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && last !== undefined) {
      headers.set(last, `${headers.get(last) ?? ''} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    headers.set(last, line.slice(colon + 1).trim());
  }
  return { headers, bodyStart };
}

function decodeBody(
  contentType: string,
  encoding: string | undefined,
  body: string,
  lineOffset: number,
  maxBytes: number,
): MimePart {
  const transfer = encoding?.trim().toLowerCase();
  let bytes: Buffer;
  let asIs = false;
  if (transfer === 'base64') bytes = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  else if (transfer === 'quoted-printable') bytes = decodeQuotedPrintable(body);
  else {
    bytes = Buffer.from(body, 'latin1');
    asIs = true;
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: maxBytes });
    } catch {
      throw new MimeError(`a ${contentType} part looks gzip-compressed but cannot be decompressed`);
    }
    asIs = false;
  }
  return { contentType, body: bytes, lineOffset: asIs ? lineOffset : undefined };
}

function decodeQuotedPrintable(body: string): Buffer {
  const joined = body.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const hex = joined.slice(i + 1, i + 3);
    if (joined[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(joined.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

function countLines(text: string): number {
  let lines = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lines++;
  return lines;
}
