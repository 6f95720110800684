import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redactor } from '../core/redactor.js';
import type { HealthCheckResult } from './health-checks.js';
import { RateLimiter } from './rate-limiter.js';
import { renderStatusPage } from './status-page.js';

/** The ECS agent's task metadata limits: 40 requests/s steady, bursts of 60. */
export const STATUS_RATE_PER_SECOND = 40;
export const STATUS_BURST = 60;

export interface StatusServerOptions {
  readonly status: () => Record<string, unknown>;
  readonly checks: () => HealthCheckResult[];
  readonly redactor: Redactor;
  readonly now?: () => number;
  readonly rate?: { readonly perSecond: number; readonly burst: number };
  /** Called once per answered request (for taupage_status_requests_total). */
  readonly onRequest?: (path: string, code: number) => void;
}

const PATHS = new Set(['/', '/status', '/healthz']);

/**
 * Read-only HTTP status for operators: GET / (a page), GET /status (JSON), GET /healthz. It binds
 * to 127.0.0.1 by default; answers are built from non-secret fields, and every body is scrubbed
 * once more on the way out. Rate-limited, with short timeouts.
 */
export function createStatusServer(options: StatusServerOptions): Server {
  const now = options.now ?? Date.now;
  const limiter = new RateLimiter(
    options.rate?.perSecond ?? STATUS_RATE_PER_SECOND,
    options.rate?.burst ?? STATUS_BURST,
    now,
  );
  const server = createServer((request, response) => {
    const rawPath = (request.url ?? '/').split('?', 1)[0] ?? '/';
    const path = PATHS.has(rawPath) ? rawPath : 'other';
    const answer = (
      code: number,
      contentType: string,
      body: string,
      headers: Record<string, string> = {},
    ): void => {
      const scrubbed = Buffer.from(options.redactor.scrub(body));
      response.writeHead(code, {
        'content-type': contentType,
        'content-length': String(scrubbed.length),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        ...headers,
      });
      response.end(request.method === 'HEAD' ? undefined : scrubbed);
      options.onRequest?.(path, code);
    };
    if (!limiter.tryTake()) {
      answer(429, 'text/plain; charset=utf-8', 'too many requests\n', { 'retry-after': '1' });
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      answer(405, 'text/plain; charset=utf-8', 'method not allowed: read-only\n', { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/status':
        answer(200, 'application/json; charset=utf-8', `${JSON.stringify(options.status(), null, 2)}\n`);
        return;
      case '/':
        answer(200, 'text/html; charset=utf-8', renderStatusPage(options.status()), {
          // The page has no scripts and loads nothing: say so, so a browser enforces it.
          'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
        });
        return;
      case '/healthz': {
        const failed = options.checks().filter((check) => !check.ok);
        if (failed.length === 0) answer(200, 'text/plain; charset=utf-8', 'ok\n');
        else
          answer(
            503,
            'text/plain; charset=utf-8',
            `impaired: ${failed.map((check) => `${check.name}: ${check.detail}`).join('; ')}\n`,
          );
        return;
      }
      default:
        answer(404, 'text/plain; charset=utf-8', 'not found: try /, /status or /healthz\n');
    }
  });
  // Short timeouts: this is a local, read-only endpoint; slow clients get dropped.
  server.requestTimeout = 5_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 1_000;
  return server;
}

export async function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

export async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
}

/** `http://host:port` of a listening server (IPv6 in brackets). */
export function baseUrl(address: AddressInfo): string {
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}
