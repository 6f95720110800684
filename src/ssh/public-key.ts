import { TaupageError } from '../core/errors.js';

/** A validated OpenSSH public key: the type and the base64 blob, nothing else from the server. */
export interface PublicKey {
  readonly type: string;
  readonly blob: string;
}

/** Key types sshd accepts today; DSA and anything unknown is refused. */
const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);
/** An RSA 16384-bit key is about 2.1 KB of blob; nothing legitimate is bigger than this. */
const MAX_BLOB_BYTES = 4096;
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function invalid(message: string): TaupageError {
  return new TaupageError('SSH_KEY_INVALID', message);
}

/**
 * Accepts exactly one line `TYPE BASE64 [COMMENT]` (a trailing newline is fine). Options
 * (`command=…`, `from=…`), more lines, and a blob whose embedded type differs from TYPE are
 * refused; the comment is dropped so nothing the server chose reaches authorized_keys verbatim.
 */
export function parsePublicKey(text: string): PublicKey {
  const line = text.replace(/\r?\n$/, '');
  if (/[\r\n\0]/.test(line)) throw invalid('the key must be a single line');
  if (line.length > 2 * MAX_BLOB_BYTES) throw invalid('the key is too long');
  const [type = '', blob = ''] = line.trim().split(/[ \t]+/);
  if (!KEY_TYPES.has(type)) throw invalid('unsupported key type, or options before the key');
  if (!STRICT_BASE64.test(blob)) throw invalid('the key is not valid base64');
  const bytes = Buffer.from(blob, 'base64');
  if (bytes.length < 32 || bytes.length > MAX_BLOB_BYTES) throw invalid('the key has an implausible length');
  // The wire format starts with uint32 length + the type name; a mismatch means a forged line.
  const nameLength = bytes.readUInt32BE(0);
  if (nameLength > 64 || bytes.subarray(4, 4 + nameLength).toString('latin1') !== type)
    throw invalid('the key blob does not match its type');
  return { type, blob };
}
