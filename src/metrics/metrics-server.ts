import { createServer, type Server } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { prometheusContentType } from 'prom-client';
import type { Logger } from '../core/logger.js';

const gzipAsync = promisify(gzip);

/**
 * Scrapes in flight at once; more get 503 (node_exporter's --web.max-requests is 40). A
 * Prometheus server scrapes one at a time, so only a misbehaving client ever sees it.
 */
export const MAX_CONCURRENT_SCRAPES = 10;

export interface MetricsServerOptions {
  readonly render: () => Promise<string>;
  /** Where a failed scrape is reported (the scraper only sees a 500). */
  readonly log: Logger;
}

/** GET /metrics on its own listener (like node_exporter's :9100), read-only, short timeouts. */
export function createMetricsServer(options: MetricsServerOptions): Server {
  let inFlight = 0;
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?', 1)[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' })
        .end('method not allowed\n');
      return;
    }
    if (path === '/') {
      response
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end('<!doctype html><title>taupage metrics</title><p><a href="/metrics">Metrics</a></p>\n');
      return;
    }
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    if (inFlight >= MAX_CONCURRENT_SCRAPES) {
      response.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('too many scrapes\n');
      return;
    }
    inFlight++;
    const gzipped = /\bgzip\b/.test(request.headers['accept-encoding'] ?? '');
    options
      .render()
      .then(async (text) => {
        const body = gzipped ? await gzipAsync(text) : Buffer.from(text);
        response.writeHead(200, {
          'content-type': prometheusContentType,
          'content-length': String(body.length),
          ...(gzipped ? { 'content-encoding': 'gzip' } : {}),
        });
        response.end(request.method === 'HEAD' ? undefined : body);
      })
      .catch((error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        options.log.error({ err: error }, `Scrape failed: ${reason}`);
        if (!response.headersSent)
          response.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n');
      })
      .finally(() => {
        inFlight--;
      });
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  // Prometheus keeps the connection open between scrapes (every 15–60 s).
  server.keepAliveTimeout = 65_000;
  return server;
}
