import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpNetworkError, httpRequest } from '../../../src/core/http-request.js';

let server: Server;
let base: string;
const held: (() => void)[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/echo') {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ method: req.method, header: req.headers['x-test'] ?? null }));
      });
      return;
    }
    if (req.url === '/big') {
      res.end(Buffer.alloc(4096, 'x'));
      return;
    }
    if (req.url === '/redirect') {
      res.writeHead(302, { location: '/echo' });
      res.end();
      return;
    }
    if (req.url === '/hang') {
      held.push(() => res.end('late'));
      return;
    }
    res.writeHead(404);
    res.end('not here');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const release of held) release();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const never = new AbortController().signal;

describe('httpRequest', () => {
  it('returns the status and body, with the method and headers sent', async () => {
    const response = await httpRequest(`${base}/echo`, {
      method: 'PUT',
      headers: { 'x-test': 'yes' },
      signal: never,
      timeoutMs: 2_000,
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString('utf8'))).toEqual({ method: 'PUT', header: 'yes' });
  });

  it('returns non-2xx answers and does not follow redirects', async () => {
    expect((await httpRequest(`${base}/missing`, { signal: never, timeoutMs: 2_000 })).status).toBe(404);
    const redirect = await httpRequest(`${base}/redirect`, {
      signal: never,
      timeoutMs: 2_000,
      discardBody: true,
    });
    expect(redirect.status).toBe(302);
    expect(redirect.body.length).toBe(0);
  });

  it('fails with HttpNetworkError when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    await expect(
      httpRequest(`http://127.0.0.1:${port}/`, { signal: never, timeoutMs: 2_000 }),
    ).rejects.toThrow(HttpNetworkError);
  });

  it('fails with HttpNetworkError when the answer does not come in time', async () => {
    await expect(httpRequest(`${base}/hang`, { signal: never, timeoutMs: 50 })).rejects.toThrow(
      /no answer from 127\.0\.0\.1:\d+ within 50 ms/,
    );
  });

  it("rejects with the caller's abort reason, not a network error", async () => {
    const controller = new AbortController();
    const pending = httpRequest(`${base}/hang`, { signal: controller.signal, timeoutMs: 10_000 });
    controller.abort(new Error('shutting down'));
    await expect(pending).rejects.toThrow('shutting down');
    await expect(pending).rejects.not.toBeInstanceOf(HttpNetworkError);
  });

  it('refuses answers larger than the limit', async () => {
    await expect(
      httpRequest(`${base}/big`, { signal: never, timeoutMs: 2_000, maxBodyBytes: 1024 }),
    ).rejects.toThrow(/larger than 1024 bytes/);
  });

  it('refuses https: URLs (IMDS and health checks are plain HTTP)', async () => {
    await expect(httpRequest('https://127.0.0.1/', { signal: never, timeoutMs: 2_000 })).rejects.toThrow(
      /only http: URLs/,
    );
  });
});
