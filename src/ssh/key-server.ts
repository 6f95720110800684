import { TaupageError } from '../core/errors.js';
import { parsePublicKey, type PublicKey } from './public-key.js';

/** The original waited 10 s; even itself gives the whole SSH call 24 s. */
export const KEY_FETCH_TIMEOUT_MS = 10_000;
/** A public key is well under 1 KB; a bigger answer is not a key. */
const MAX_RESPONSE_BYTES = 16 * 1024;

export interface KeyServerOptions {
  readonly baseUrl: string;
  /** PEM CA certificates to trust in addition to the system's (a private even CA, tests). */
  readonly ca?: string | undefined;
  readonly timeoutMs?: number;
}

function unavailable(message: string, cause?: unknown): TaupageError {
  return new TaupageError('SSH_KEY_UNAVAILABLE', message, { cause });
}

/** GET `<url>/public-keys/<user>/sshkey.pub` over HTTPS; the user name is already validated. */
export async function fetchPublicKey(
  options: KeyServerOptions,
  user: string,
  signal?: AbortSignal,
): Promise<PublicKey> {
  const url = new URL(`${options.baseUrl}/public-keys/${encodeURIComponent(user)}/sshkey.pub`);
  if (url.protocol !== 'https:') throw unavailable('the key server must be reached over https');
  const timeout = AbortSignal.timeout(options.timeoutMs ?? KEY_FETCH_TIMEOUT_MS);
  const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  // Loaded on first use: node:https brings TLS, which the agent's start-up never needs.
  const { request } = await import('node:https');
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        signal: combined,
        headers: { accept: 'text/plain' },
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(unavailable(`the key server answered HTTP ${res.statusCode ?? 0} for this user`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy();
            reject(new TaupageError('SSH_KEY_INVALID', 'the key server answered more than 16 KB'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          resolve(Buffer.concat(chunks).toString('utf8'));
        });
        res.on('error', (error) => {
          reject(unavailable('the key server connection broke', error));
        });
      },
    );
    req.on('error', (error) => {
      reject(
        timeout.aborted
          ? unavailable(
              `the key server did not answer within ${options.timeoutMs ?? KEY_FETCH_TIMEOUT_MS} ms`,
              error,
            )
          : unavailable('cannot reach the key server', error),
      );
    });
    req.end();
  });
  return parsePublicKey(text);
}
