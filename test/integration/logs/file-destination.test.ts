import { appendFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Redactor } from '../../../src/core/redactor.js';
import { FileDestination } from '../../../src/logs/file-destination.js';
import { FileTailSource } from '../../../src/logs/file-tail-source.js';
import { LogPipeline } from '../../../src/logs/log-pipeline.js';
import { eventually } from '../../support/test-env.js';
import { cappedClock } from '../../support/capped-clock.js';

const log = pino({ level: 'silent' });
const quickClock = cappedClock(20);
let dir = '';
const pipelines: LogPipeline[] = [];

afterEach(async () => {
  for (const pipeline of pipelines.splice(0)) await pipeline.stop(0);
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = '';
});

async function start(): Promise<{ pipeline: LogPipeline; input: string; output: string }> {
  dir = await mkdtemp(join(tmpdir(), 'taupage-file-dest-'));
  const input = join(dir, 'in.log');
  const pipeline = await LogPipeline.start({
    stateDir: join(dir, 'state'),
    sources: [new FileTailSource({ pattern: input, name: 'app', log, maskJwt: true, pollIntervalMs: 20 })],
    destinations: [
      new FileDestination({
        dir: join(dir, 'out'),
        routes: { app: { file: 'application.log', exclude: /^DEBUG/ } },
      }),
    ],
    redactor: new Redactor(),
    log,
    clock: quickClock,
    lingerMs: 20,
    spool: { flushIntervalMs: 10 },
  });
  pipelines.push(pipeline);
  return { pipeline, input, output: join(dir, 'out', 'application.log') };
}

const numbered = (from: number, to: number): string =>
  Array.from({ length: to - from }, (_, i) => `line ${String(from + i)}\n`).join('');

async function linesIn(path: string, count: number): Promise<string[]> {
  return eventually(
    async () => {
      const text = await readFile(path, 'utf8').catch(() => '');
      const lines = text.split('\n').slice(0, -1);
      return lines.length >= count ? lines : undefined;
    },
    `${String(count)} lines in ${path}`,
  );
}

describe('log pipeline → local file destination', () => {
  it('appends every line, in order, without the excluded ones', async () => {
    const { input, output } = await start();
    await writeFile(input, `DEBUG noise\n${numbered(0, 10_000)}`);
    const lines = await linesIn(output, 10_000);
    expect(lines).toEqual(Array.from({ length: 10_000 }, (_, i) => `line ${String(i)}`));
  });

  it('opens a new file after logrotate renamed the old one, losing nothing', async () => {
    const { input, output } = await start();
    await writeFile(input, numbered(0, 1_000));
    await linesIn(output, 1_000);
    await rename(output, `${output}.1`);
    await appendFile(input, numbered(1_000, 2_000));
    const fresh = await linesIn(output, 1_000);
    const old = (await readFile(`${output}.1`, 'utf8')).split('\n').slice(0, -1);
    expect([...old, ...fresh]).toEqual(Array.from({ length: 2_000 }, (_, i) => `line ${String(i)}`));
  });
});
