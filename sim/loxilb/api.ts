import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo, Socket } from 'node:net';

/**
 * loxilb's REST API (base `/netlox/v1`) as one fake node serves it on 127.0.0.1 (ephemeral port),
 * with the bodies loxilb's go-swagger handlers render (loxilb api/restapi/handler/cluster.go and
 * common.go, api/models): the fields in struct order, `sync: null`, the error model with
 * `fields: null`, and `ResultErrorResponseErrorMessage`'s status mapping.
 *
 *   GET    /netlox/v1/config/cistate/all            {"Attr":[{"instance","state","sync":null,"vip"}]}
 *   POST   /netlox/v1/config/cistate                {"instance","state","vip"} → {"result":"Success"}
 *   GET    /netlox/v1/config/bfd/all                {"Attr":[{"instance","interval","port","remoteIp",
 *                                                    "retryCount","sourceIP","state"}]}; BFD off → 500
 *                                                    {"code":500,"fields":null,"message":"bfd session not running",…}
 *   DELETE /netlox/v1/config/bfd/remoteIp/{ip}      deletes a session (the peer's goes to BFDInit)
 */

export interface CiStateEntry {
  instance: string;
  state: string;
  vip: string;
}

export interface BfdSessionEntry {
  instance: string;
  interval: number;
  port: number;
  remoteIp: string;
  retryCount: number;
  sourceIP: string;
  state: string;
}

/** What the API asks of its node; an Error's message becomes loxilb's error body. */
export interface LoxilbApiBackend {
  ciStates(): CiStateEntry[];
  /** Throws `bfd session not running` when loxilb runs without BFD. */
  bfdSessions(): BfdSessionEntry[];
  setCiState(entry: CiStateEntry): void;
  deleteBfdSession(remoteIp: string): void;
}

/** loxilb's models.Error as `ResultErrorResponseErrorMessage` builds it for these messages. */
export function loxilbErrorBody(message: string): { status: number; body: Record<string, unknown> } {
  const m = message.toLowerCase();
  const model = (code: number, text: string) => ({
    status: code,
    body: { code, fields: null, message: text, result: message },
  });
  if (/not found|no bfd session/.test(m)) return model(404, 'Resource not found');
  if (/invalid |malformed/.test(m)) return model(400, 'Malformed arguments for API call');
  return model(500, message);
}

export class LoxilbApiServer {
  /** `METHOD path` of every request, in order. */
  readonly requests: string[] = [];
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  constructor(private readonly backend: LoxilbApiBackend) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.onRequest(req, res));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The same port again after a restart, so a daemon configured with it finds loxilb back.
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Closes the port: clients get ECONNREFUSED, as from a loxilb that is not running. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const method = req.method ?? 'GET';
    this.requests.push(`${method} ${path}`);
    const send = (status: number, body: unknown): void => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    try {
      if (method === 'GET' && path === '/netlox/v1/config/cistate/all')
        return send(200, {
          Attr: this.backend
            .ciStates()
            .map((e) => ({ ...e, sync: null }))
            .map(ciOrder),
        });
      if (method === 'GET' && path === '/netlox/v1/config/bfd/all')
        return send(200, { Attr: this.backend.bfdSessions() });
      if (method === 'POST' && path === '/netlox/v1/config/cistate') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Partial<CiStateEntry>;
        this.backend.setCiState({
          instance: body.instance ?? '',
          state: body.state ?? '',
          vip: body.vip ?? '0.0.0.0',
        });
        return send(200, { result: 'Success' });
      }
      const del = /^\/netlox\/v1\/config\/bfd\/remoteIp\/([^/]+)$/.exec(path);
      if (method === 'DELETE' && del) {
        this.backend.deleteBfdSession(decodeURIComponent(del[1]));
        return send(200, { result: 'Success' });
      }
      return send(404, { code: 404, message: `path ${path} was not found` });
    } catch (err) {
      const { status, body } = loxilbErrorBody((err as Error).message);
      return send(status, body);
    }
  }
}

/** go's encoding/json writes struct fields in declaration order: instance, state, sync, vip. */
function ciOrder(e: CiStateEntry & { sync: null }) {
  return { instance: e.instance, state: e.state, sync: e.sync, vip: e.vip };
}
