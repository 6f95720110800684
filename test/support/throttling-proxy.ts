import { randomUUID } from 'node:crypto';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listen, readBody, send } from '../emulators/http-util.js';

/**
 * An HTTP proxy in front of one of our AWS emulators that answers "slow down" the way the
 * service does once a request quota is spent: a token bucket (`ratePerSecond`, `burst`), and/or
 * the next N requests (`throttleNext`). Forwarded requests reach the emulator unchanged (the
 * SigV4 signature covers the Host header the client used, which is the proxy's, and the emulator
 * checks it against what it received). Counts forwarded and throttled requests per operation.
 *
 * Protocols: `json` (CloudWatch Logs, KMS, ECR: 400 `{"__type":"ThrottlingException"}`), `query`
 * (CloudFormation, CloudWatch, ELB: 400 `<ErrorResponse>…<Code>Throttling</Code>`), `ec2` (503
 * `<Response><Errors>…RequestLimitExceeded`).
 */
export type ThrottlingProtocol = 'json' | 'query' | 'ec2';

export interface ThrottlingProxyOptions {
  readonly upstream: string;
  readonly protocol: ThrottlingProtocol;
  /** Sustained requests per second the bucket refills; default: no bucket. */
  readonly ratePerSecond?: number;
  /** Bucket size (requests allowed at once); default ratePerSecond. */
  readonly burst?: number;
}

export class ThrottlingProxy {
  /** Requests passed to the emulator, per operation (x-amz-target's action, or the query Action). */
  readonly forwarded: Record<string, number> = {};
  /** Requests answered with throttling, per operation. */
  readonly throttled: Record<string, number> = {};
  #next = 0;
  #tokens: number;
  #refilledAt = Date.now();

  private constructor(
    private readonly options: ThrottlingProxyOptions,
    private readonly server: Awaited<ReturnType<typeof listen>>['server'],
    readonly url: string,
  ) {
    this.#tokens = options.burst ?? options.ratePerSecond ?? 0;
  }

  static async start(options: ThrottlingProxyOptions): Promise<ThrottlingProxy> {
    const holder: { proxy?: ThrottlingProxy } = {};
    const { server, url } = await listen(async (req, res) => {
      if (holder.proxy === undefined) throw new Error('not started');
      await holder.proxy.handle(req, res);
    });
    holder.proxy = new ThrottlingProxy(options, server, url);
    return holder.proxy;
  }

  /** The next `count` requests are throttled whatever the bucket holds. */
  throttleNext(count: number): void {
    this.#next += count;
  }

  /** Forget the throttles `throttleNext` queued and not yet used. */
  clearThrottles(): void {
    this.#next = 0;
  }

  total(counts: Record<string, number>): number {
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  #take(): boolean {
    if (this.#next > 0) {
      this.#next--;
      return false;
    }
    const rate = this.options.ratePerSecond;
    if (rate === undefined) return true;
    const now = Date.now();
    const burst = this.options.burst ?? rate;
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#refilledAt) / 1000) * rate);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, 16 * 1024 * 1024);
    const operation = operationOf(req, body);
    if (!this.#take()) {
      this.throttled[operation] = (this.throttled[operation] ?? 0) + 1;
      throttle(res, this.options.protocol);
      return;
    }
    this.forwarded[operation] = (this.forwarded[operation] ?? 0) + 1;
    const upstream = new URL(this.options.upstream);
    await new Promise<void>((resolve) => {
      const forward = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('end', resolve);
          answer.on('error', () => {
            res.destroy();
            resolve();
          });
        },
      );
      forward.on('error', () => {
        res.destroy();
        resolve();
      });
      forward.end(body);
    });
  }
}

function operationOf(req: IncomingMessage, body: Buffer): string {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target.slice(target.indexOf('.') + 1);
  return new URLSearchParams(body.toString('utf8')).get('Action') ?? 'unknown';
}

function throttle(res: ServerResponse, protocol: ThrottlingProtocol): void {
  const requestId = randomUUID();
  if (protocol === 'json') {
    send(res, 400, JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }), {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-errortype': 'ThrottlingException',
      'x-amzn-requestid': requestId,
    });
  } else if (protocol === 'query') {
    send(
      res,
      400,
      `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      { 'content-type': 'text/xml' },
    );
  } else {
    send(
      res,
      503,
      `<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`,
      { 'content-type': 'text/xml' },
    );
  }
}
