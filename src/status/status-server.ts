import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redactor } from '../core/redactor.js';

export interface StatusServerOptions {
  readonly status: () => Record<string, unknown>;
  readonly redactor: Redactor;
}

/**
 * Read-only HTTP status for operators: GET /status (JSON) and GET /healthz. It binds to
 * 127.0.0.1 by default; answers are built from non-secret fields and scrubbed once more.
 */
export function createStatusServer(options: StatusServerOptions): Server {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?', 1)[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' })
        .end('method not allowed\n');
      return;
    }
    if (path === '/status') {
      const body = options.redactor.scrub(JSON.stringify(options.status(), null, 2));
      response
        .writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
        .end(request.method === 'HEAD' ? undefined : `${body}\n`);
      return;
    }
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /status\n');
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
