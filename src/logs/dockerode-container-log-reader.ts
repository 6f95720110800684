import Docker from 'dockerode';
import { abortReason } from '../core/clock.js';
import { firstLine, TaupageError } from '../core/errors.js';
import { join } from 'node:path';
import type { ContainerLogEntry, ContainerLogReader } from './container-log-reader.js';
import type { ContainerLogFiles } from './docker-log-file-follower.js';

/** Inspecting the container before following must answer quickly; the follow itself has no deadline. */
const INSPECT_TIMEOUT_MS = 10_000;
const HEADER_BYTES = 8;

/** Adapter: the Docker logs API (`follow`, `timestamps`, `since`) through dockerode. */
export class DockerodeContainerLogReader implements ContainerLogReader {
  readonly #docker: Docker;
  #rootDir: string | undefined;

  constructor(docker: Docker = new Docker()) {
    this.#docker = docker;
  }

  async logFiles(container: string, signal: AbortSignal): Promise<ContainerLogFiles | null | undefined> {
    const options = { abortSignal: AbortSignal.any([signal, AbortSignal.timeout(INSPECT_TIMEOUT_MS)]) };
    let inspect: Docker.ContainerInspectInfo;
    try {
      inspect = await this.#docker.getContainer(container).inspect(options as object);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      if (signal.aborted) throw abortReason(signal);
      const message = error instanceof Error ? firstLine(error.message) : String(error);
      throw new TaupageError('DOCKER_UNAVAILABLE', `Docker: cannot inspect ${container}: ${message}`, {
        cause: error,
      });
    }
    const driver = inspect.HostConfig.LogConfig?.Type;
    if (driver === 'json-file' && inspect.LogPath)
      return { id: inspect.Id, format: 'json-file', path: inspect.LogPath };
    if (driver !== 'local') return null;
    // The local driver's file is not in the inspect data: <docker root>/containers/<id>/local-logs.
    this.#rootDir ??= ((await this.#docker.info()) as { DockerRootDir: string }).DockerRootDir;
    return {
      id: inspect.Id,
      format: 'local',
      path: join(this.#rootDir, 'containers', inspect.Id, 'local-logs', 'container.log'),
    };
  }

  async *follow(
    container: string,
    since: string | undefined,
    signal: AbortSignal,
    options: { readonly follow?: boolean } = {},
  ): AsyncIterable<readonly ContainerLogEntry[]> {
    const handle = this.#docker.getContainer(container);
    let tty: boolean;
    let stream: NodeJS.ReadableStream | Buffer;
    try {
      const inspect = await handle.inspect({
        abortSignal: AbortSignal.any([signal, AbortSignal.timeout(INSPECT_TIMEOUT_MS)]),
      } as object);
      tty = inspect.Config.Tty;
      // dockerode's types omit abortSignal on logs; it passes it to the request.
      const logOptions = {
        follow: (options.follow ?? true) as true,
        stdout: true,
        stderr: true,
        timestamps: true,
        ...(since === undefined ? {} : { since }),
        abortSignal: signal,
      };
      // Without follow, dockerode answers with the whole body as one Buffer.
      stream = await handle.logs(logOptions);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return; // not there (yet)
      if (signal.aborted) throw abortReason(signal);
      const message = error instanceof Error ? firstLine(error.message) : String(error);
      throw new TaupageError(
        'DOCKER_UNAVAILABLE',
        `Docker: cannot follow the log of ${container}: ${message}`,
        {
          cause: error,
        },
      );
    }
    const onAbort = (): void => {
      if (!Buffer.isBuffer(stream)) (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const chunks: AsyncIterable<Buffer> | Iterable<Buffer> = Buffer.isBuffer(stream)
        ? [stream]
        : (stream as AsyncIterable<Buffer>);
      yield* tty ? parseRaw(chunks) : parseMultiplexed(chunks);
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
      onAbort();
    }
  }
}

/**
 * The multiplexed stream of a container without a TTY: frames of an 8-byte header (stream type,
 * 3 zero bytes, big-endian payload length) and a payload; Docker writes one log entry per frame,
 * "<timestamp> <line>" with a newline unless the entry is a partial piece of a long line.
 */
async function* parseMultiplexed(
  stream: AsyncIterable<Buffer> | Iterable<Buffer>,
): AsyncIterable<ContainerLogEntry[]> {
  let buffer: Buffer = Buffer.alloc(0);
  for await (const chunk of stream) {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    const entries: ContainerLogEntry[] = [];
    let at = 0;
    while (buffer.length - at >= HEADER_BYTES) {
      const size = buffer.readUInt32BE(at + 4);
      if (buffer.length - at - HEADER_BYTES < size) break;
      const type = buffer[at];
      const entry = parseEntry(
        buffer,
        at + HEADER_BYTES,
        at + HEADER_BYTES + size,
        type === 2 ? 'stderr' : 'stdout',
      );
      at += HEADER_BYTES + size;
      if (entry) entries.push(entry);
    }
    buffer = buffer.subarray(at);
    if (entries.length > 0) yield entries;
  }
}

/** With a TTY there are no frames and no partial markers: one entry per newline-ended line. */
async function* parseRaw(
  stream: AsyncIterable<Buffer> | Iterable<Buffer>,
): AsyncIterable<ContainerLogEntry[]> {
  let buffer: Buffer = Buffer.alloc(0);
  for await (const chunk of stream) {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    const entries: ContainerLogEntry[] = [];
    let start = 0;
    for (let end = buffer.indexOf(0x0a, start); end >= 0; end = buffer.indexOf(0x0a, start)) {
      const entry = parseEntry(buffer, start, end + 1, 'stdout');
      if (entry) entries.push(entry);
      start = end + 1;
    }
    buffer = buffer.subarray(start);
    if (entries.length > 0) yield entries;
  }
}

/** The entry "<timestamp> <line>" in `buffer[start, end)`, without copying the line. */
function parseEntry(
  buffer: Buffer,
  start: number,
  end: number,
  stream: 'stdout' | 'stderr',
): ContainerLogEntry | undefined {
  // RFC3339NanoFixed is 30 characters; look for the space only when it is not there.
  const space = start + 30 < end && buffer[start + 30] === 0x20 ? start + 30 : buffer.indexOf(0x20, start);
  if (space < 0 || space >= end) return undefined;
  const timestamp = buffer.toString('latin1', start, space);
  let stop = end;
  const partial = buffer[stop - 1] !== 0x0a;
  if (!partial) stop--;
  if (!partial && buffer[stop - 1] === 0x0d) stop--; // a TTY's CRLF
  return { stream, timestamp, line: buffer.subarray(space + 1, stop), partial };
}
