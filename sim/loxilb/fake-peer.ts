import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo, Socket } from 'node:net';

/**
 * A STATIC fake of the two loxilb REST endpoints the gate reads (fixed bodies, for gate unit and
 * error-path tests), as a real HTTP server on 127.0.0.1 with an ephemeral port. For a loxilb that
 * behaves — roles from BFD or kube-loxilb, takeover and destroy against the emulator — use
 * sim/loxilb/cluster.ts (`startLoxilbCluster`). Bodies follow loxilb's own JSON (see test/fixtures/loxilb/README.md for where each
 * field comes from); the builders below produce exactly the fixture shapes.
 */

export type HaState = 'MASTER' | 'BACKUP' | 'NOT_DEFINED';
export type BfdState = 'BFDUp' | 'BFDDown' | 'BFDAdminDown' | 'BFDInit';

export function ciStateBody(state: HaState | null, instance = 'llb-inst0'): { Attr: unknown[] } {
  return { Attr: state === null ? [] : [{ instance, state, sync: null, vip: '0.0.0.0' }] };
}

export function bfdBody(
  peers: Array<{ remoteIp: string; state: BfdState }>,
  sourceIP = '10.0.1.11',
  instance = 'llb-inst0',
): { Attr: unknown[] } {
  return {
    Attr: peers.map((p) => ({
      instance,
      interval: 200000,
      port: 3784,
      remoteIp: p.remoteIp,
      retryCount: 3,
      sourceIP,
      state: p.state,
    })),
  };
}

export interface FakeLoxilbBehaviour {
  /** Body of GET /netlox/v1/config/cistate/all (default: MASTER of llb-inst0). */
  cistate?: unknown;
  /** Body of GET /netlox/v1/config/bfd/all (default: no sessions). */
  bfd?: unknown;
  /** Answer every request with this status and a loxilb-style error body. */
  status?: number;
  /** Never answer (the client's timeout must end the request). */
  hang?: boolean;
  /** Raw text instead of JSON (a malformed body). */
  rawBody?: string;
  /**
   * loxilb without BFD (no `--ka`, kube-loxilb --setRoles): GET /config/bfd/all answers HTTP 500
   * with its error model, message `bfd session not running` (pkg/loxinet/cluster.go).
   */
  bfdNotRunning?: boolean;
}

export class FakeLoxilb {
  /** Paths requested, in order. */
  readonly requests: string[] = [];
  private behaviour: FakeLoxilbBehaviour;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  private constructor(behaviour: FakeLoxilbBehaviour) {
    this.behaviour = behaviour;
  }

  static async start(behaviour: FakeLoxilbBehaviour = {}): Promise<FakeLoxilb> {
    const fake = new FakeLoxilb(behaviour);
    await fake.listen();
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  set(behaviour: FakeLoxilbBehaviour): void {
    this.behaviour = behaviour;
  }

  private async listen(): Promise<void> {
    this.server = createServer((req, res) => this.onRequest(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    this.requests.push(path);
    const b = this.behaviour;
    if (b.hang) return; // left open until the client gives up or stop() destroys the socket
    const send = (status: number, body: string): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    };
    if (b.status !== undefined && b.status !== 200) {
      // loxilb's models.Error shape
      return send(b.status, JSON.stringify({ code: b.status, message: 'Internal service error' }));
    }
    if (b.rawBody !== undefined) return send(200, b.rawBody);
    if (req.method === 'GET' && path === '/netlox/v1/config/cistate/all') {
      return send(200, JSON.stringify(b.cistate ?? ciStateBody('MASTER')));
    }
    if (req.method === 'GET' && path === '/netlox/v1/config/bfd/all' && b.bfdNotRunning) {
      const message = 'bfd session not running';
      return send(500, JSON.stringify({ code: 500, message, result: message }));
    }
    if (req.method === 'GET' && path === '/netlox/v1/config/bfd/all') {
      return send(200, JSON.stringify(b.bfd ?? bfdBody([])));
    }
    return send(404, JSON.stringify({ code: 404, message: 'path not found' }));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }
}
