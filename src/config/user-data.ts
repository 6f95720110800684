import { gunzipSync } from 'node:zlib';
import { TaupageError } from '../core/errors.js';

export const TAUPAGE_HEADER = '#taupage-ami-config';

export interface DecodedUserData {
  /** The YAML text (the `#taupage-ami-config` line is a YAML comment). */
  readonly yaml: string;
  readonly compressed: boolean;
  readonly hadHeader: boolean;
}

// EC2 caps raw user data at 16 KB, and gzip is how people fit more into it. Decompressed, a
// TaupageConfig is still small: 1 MiB stops a zip bomb long before it hurts.
const MAX_DECOMPRESSED_BYTES = 1024 * 1024;

/**
 * User data → TaupageConfig YAML text. Accepts gzip-compressed user data and the
 * `#taupage-ami-config` first line Senza writes; refuses other cloud-init formats by name,
 * because the original silently ignored them and the app just never started.
 */
export function decodeUserData(bytes: Uint8Array): DecodedUserData {
  let raw = Buffer.from(bytes);
  const compressed = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
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
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch (error) {
    throw new TaupageError('USER_DATA_INVALID', 'User data is neither UTF-8 text nor gzip', { cause: error });
  }
  if (text.startsWith('\uFEFF')) text = text.slice(1);

  const firstLineEnd = text.indexOf('\n');
  const firstLine = (firstLineEnd === -1 ? text : text.slice(0, firstLineEnd)).trim();
  if (firstLine === TAUPAGE_HEADER || firstLine.startsWith(`${TAUPAGE_HEADER} `)) {
    // The header is a YAML comment: keep it, so line numbers match the file the user wrote.
    return { yaml: text, compressed, hadHeader: true };
  }
  const foreign = foreignFormat(firstLine);
  if (foreign !== undefined) {
    throw new TaupageError(
      'USER_DATA_INVALID',
      `User data is ${foreign}, not a TaupageConfig (its first line must be ${TAUPAGE_HEADER})`,
    );
  }
  return { yaml: text, compressed, hadHeader: false };
}

function foreignFormat(firstLine: string): string | undefined {
  if (firstLine.startsWith('#cloud-config')) return 'a cloud-init #cloud-config document';
  if (firstLine.startsWith('#!')) return 'a shell script';
  if (firstLine.startsWith('#include')) return 'a cloud-init #include list';
  if (firstLine.startsWith('#cloud-boothook')) return 'a cloud-init boothook';
  if (/^content-type:/i.test(firstLine) || /^mime-version:/i.test(firstLine))
    return 'a MIME multipart document';
  return undefined;
}
