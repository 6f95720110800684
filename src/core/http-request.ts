import { request } from 'node:http';

/**
 * Plain-HTTP requests for the boot's critical path (IMDS, the local health check).
 *
 * Not `fetch`: Node loads and initialises undici on the first `fetch` call, which measured
 * 130–200 ms on these 2-core machines — more than the whole IMDS step. `node:http` is already
 * loaded (the status endpoint uses it), so a request costs only the round trip. Only `http:`
 * URLs: IMDS and the app's health port are link-local/loopback and never TLS.
 */
export interface HttpResponse {
  readonly status: number;
  readonly body: Buffer;
}

export interface HttpRequestOptions {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** The caller's cancellation: its reason is what the request rejects with. */
  readonly signal: AbortSignal;
  /** Per-request limit for connect + answer; exceeded → HttpNetworkError. */
  readonly timeoutMs: number;
  /** Refuse bigger answers (default 1 MiB): nothing on this path is larger. */
  readonly maxBodyBytes?: number;
  /** Skip reading the body (a health probe only needs the status). */
  readonly discardBody?: boolean;
}

/** The request never got an HTTP answer: refused, reset, timed out, or the answer was too big. */
export class HttpNetworkError extends Error {
  override readonly name = 'HttpNetworkError';
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export function httpRequest(url: string, options: HttpRequestOptions): Promise<HttpResponse> {
  const target = new URL(url);
  if (target.protocol !== 'http:') {
    return Promise.reject(new HttpNetworkError(`only http: URLs are supported, not ${target.protocol}`));
  }
  const { signal } = options;
  if (signal.aborted) return Promise.reject(toError(signal.reason));
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  return new Promise<HttpResponse>((resolve, reject) => {
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      outcome();
    };
    const fail = (error: Error) => {
      finish(() => {
        reject(error);
      });
      req.destroy();
    };
    const onAbort = () => {
      fail(toError(signal.reason));
    };
    const timer = setTimeout(() => {
      fail(new HttpNetworkError(`no answer from ${target.host} within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });

    const req = request(
      target,
      {
        method: options.method ?? 'GET',
        ...(options.headers === undefined ? {} : { headers: { ...options.headers } }),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (options.discardBody === true) {
          res.resume();
          finish(() => {
            resolve({ status, body: Buffer.alloc(0) });
          });
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBodyBytes) {
            fail(new HttpNetworkError(`answer from ${target.host} is larger than ${maxBodyBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          finish(() => {
            resolve({ status, body: Buffer.concat(chunks) });
          });
        });
        res.on('error', (error) => {
          fail(new HttpNetworkError(error.message, { cause: error }));
        });
      },
    );
    req.on('error', (error) => {
      fail(new HttpNetworkError(error.message, { cause: error }));
    });
    req.end();
  });
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}
