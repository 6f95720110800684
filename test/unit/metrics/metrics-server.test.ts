import type { Server } from 'node:http';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetricsServer } from '../../../src/metrics/metrics-server.js';
import { baseUrl, close, listen } from '../../../src/status/status-server.js';

let server: Server | undefined;
afterEach(async () => {
  if (server !== undefined) await close(server);
  server = undefined;
});

function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

describe('createMetricsServer', () => {
  it('serves the rendered metrics', async () => {
    const { log } = recordingLog();
    server = createMetricsServer({ render: () => Promise.resolve('up 1\n'), log });
    const url = `${baseUrl(await listen(server, '127.0.0.1', 0))}/metrics`;
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('up 1\n');
  });

  it('a failed scrape answers 500 and logs why, once per failed scrape', async () => {
    const { log, lines } = recordingLog();
    server = createMetricsServer({
      render: () => Promise.reject(new Error('textfile collector: EACCES /var/local/textfile_collector')),
      log,
    });
    const url = `${baseUrl(await listen(server, '127.0.0.1', 0))}/metrics`;
    const response = await fetch(url);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('scrape failed\n');
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        msg: 'Scrape failed: textfile collector: EACCES /var/local/textfile_collector',
        err: expect.objectContaining({
          message: 'textfile collector: EACCES /var/local/textfile_collector',
        }) as unknown,
      }),
    ]);
  });
});
