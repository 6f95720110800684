import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import * as packet from 'dns-packet';

/**
 * An authoritative DNS server over UDP for one test zone: SRV and A records it is given, on
 * 127.0.0.1 and a port picked free (never 53, never fixed). It speaks the real wire format
 * (dns-packet encodes and decodes it), so node's resolver (c-ares) and `dig -p` query it as
 * they would a real server:
 *
 * - a name it has records of the asked type for: NOERROR with them (authoritative);
 * - a name inside its zone without records of that type: NOERROR with no answers (NODATA);
 * - a name outside its zone: REFUSED (it is no recursive resolver).
 *
 * Records can change while it runs (`setSrv`, `setA`): a cluster that moved. It counts the
 * questions per name and type, so a test can see what was asked.
 */
export interface SrvTarget {
  readonly target: string;
  readonly port: number;
  readonly priority?: number;
  readonly weight?: number;
}

export class DnsSrvEmulator {
  readonly #socket: Socket;
  readonly #zone: string;
  readonly #srv = new Map<string, readonly SrvTarget[]>();
  readonly #a = new Map<string, readonly string[]>();
  readonly #asked = new Map<string, number>();

  private constructor(socket: Socket, zone: string) {
    this.#socket = socket;
    this.#zone = normalize(zone);
  }

  /** A server for `zone` (e.g. `etcd.test-1234.example`). */
  static async start(zone: string): Promise<DnsSrvEmulator> {
    const socket = createSocket('udp4');
    const server = new DnsSrvEmulator(socket, zone);
    socket.on('message', (message, remote) => {
      server.#answer(message, remote);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  /** `IP:PORT`, what `--etcd-dns-server` and node's Resolver.setServers take. */
  get address(): string {
    const { address, port } = this.#socket.address();
    return `${address}:${port}`;
  }

  setSrv(name: string, targets: readonly SrvTarget[]): void {
    this.#srv.set(normalize(name), targets);
  }

  setA(name: string, addresses: readonly string[]): void {
    this.#a.set(normalize(name), addresses);
  }

  /** How often `name` was asked for with `type` (SRV, A, AAAA…). */
  asked(name: string, type: string): number {
    return this.#asked.get(`${type} ${normalize(name)}`) ?? 0;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#socket.close(() => {
        resolve();
      });
    });
  }

  #answer(message: Buffer, remote: RemoteInfo): void {
    let query: packet.Packet;
    try {
      query = packet.decode(message);
    } catch {
      return; // Not DNS: no answer, as a server would do.
    }
    const question = query.questions?.[0];
    if (question === undefined) return;
    const name = normalize(question.name);
    this.#asked.set(`${question.type} ${name}`, (this.#asked.get(`${question.type} ${name}`) ?? 0) + 1);
    const inZone = name === this.#zone || name.endsWith(`.${this.#zone}`);
    const answers: packet.Answer[] = [];
    if (question.type === 'SRV')
      for (const srv of this.#srv.get(name) ?? [])
        answers.push({
          type: 'SRV',
          name: question.name,
          ttl: 5,
          data: { priority: srv.priority ?? 0, weight: srv.weight ?? 0, port: srv.port, target: srv.target },
        });
    if (question.type === 'A')
      for (const address of this.#a.get(name) ?? [])
        answers.push({ type: 'A', name: question.name, ttl: 5, data: address });
    const response = packet.encode({
      id: query.id ?? 0,
      type: 'response',
      // AA, and RD copied from the question (RA stays off: not recursive).
      flags: (inZone ? packet.AUTHORITATIVE_ANSWER : 0) | ((query.flags ?? 0) & packet.RECURSION_DESIRED),
      rcode: inZone ? 'NOERROR' : 'REFUSED',
      questions: query.questions ?? [],
      answers,
    } as packet.Packet);
    this.#socket.send(response, remote.port, remote.address);
  }
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
