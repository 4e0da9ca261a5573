/**
 * A loopback HTTP proxy in front of the lab's real nova-api that the driver under test is pointed at
 * (`compute_endpoint_override`). It lets a test count the calls the driver made, by the driver's own method
 * names and their outcome, and answer one with a fault (a 503 as a load balancer in front of Nova would) without
 * Nova seeing it. Everything else passes through untouched.
 */
import { createServer, request as forward, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedCall {
  /** The CloudDriver method this request is (evacuate, liveMigrate, setServiceForcedDown …), or `other`. */
  readonly action: string;
  /** The server id or service id in the path. */
  readonly subject?: string;
  readonly status: number;
}

export interface ApiErrorFault {
  readonly kind: 'api-error';
  readonly action: string;
  readonly times?: number;
  readonly status?: number;
}

const SERVER_ACTIONS: Record<string, string> = {
  evacuate: 'evacuate',
  'os-migrateLive': 'liveMigrate',
  'os-start': 'startInstance',
  'os-stop': 'stopInstance',
  reboot: 'rebootInstance',
  'os-resetState': 'resetState',
};

export class NovaProxy {
  readonly calls: ProxiedCall[] = [];
  readonly #faults: { action: string; left: number; status: number }[] = [];
  #server: Server | undefined;
  #url = '';

  private constructor(private readonly target: URL) {}

  /** Listens on 127.0.0.1 (a free port) in front of `novaUrl` (e.g. http://127.0.0.1:8774/v2.1). */
  static async start(novaUrl: string): Promise<NovaProxy> {
    const proxy = new NovaProxy(new URL(novaUrl));
    const server = createServer((req, res) => { void proxy.#handle(req, res); });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    proxy.#server = server;
    proxy.#url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${proxy.target.pathname.replace(/\/$/, '')}`;
    return proxy;
  }

  /** The compute endpoint to give the driver. */
  get url(): string {
    return this.#url;
  }

  inject(fault: ApiErrorFault): string {
    this.#faults.push({ action: fault.action, left: fault.times ?? Number.POSITIVE_INFINITY, status: fault.status ?? 503 });
    return `fault-${this.#faults.length}`;
  }

  count(action: string, subject?: string, outcome?: 'accepted' | 'refused'): number {
    return this.calls.filter((c) => c.action === action
      && (subject === undefined || c.subject === subject)
      && (outcome === undefined || (outcome === 'accepted') === (c.status >= 200 && c.status < 300))).length;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const { action, subject } = classify(req.method ?? 'GET', req.url ?? '/', body);
    const fault = this.#faults.find((f) => f.action === action && f.left > 0);
    if (fault) {
      fault.left -= 1;
      this.calls.push({ action, subject, status: fault.status });
      const text = JSON.stringify({ message: 'Service Unavailable (injected by the lab proxy)', code: fault.status });
      res.writeHead(fault.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    const upstream = forward({
      host: this.target.hostname, port: this.target.port, method: req.method, path: req.url,
      headers: { ...req.headers, host: this.target.host },
    }, (answer) => {
      this.calls.push({ action, subject, status: answer.statusCode ?? 0 });
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (err) => {
      this.calls.push({ action, subject, status: 502 });
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `lab proxy: ${err.message}` }));
    });
    upstream.end(body);
  }
}

/** Which driver call a Nova request is. */
function classify(method: string, url: string, body: Buffer): { action: string; subject?: string } {
  const path = url.split('?')[0]!.replace(/^\/v2\.1/, '');
  const serverAction = /^\/servers\/([^/]+)\/action$/.exec(path);
  if (method === 'POST' && serverAction) {
    const key = Object.keys(parse(body))[0] ?? '';
    return { action: SERVER_ACTIONS[key] ?? key, subject: serverAction[1] };
  }
  const service = /^\/os-services\/([^/]+)$/.exec(path);
  if (method === 'PUT' && service) {
    const fields = parse(body);
    return { action: 'forced_down' in fields ? 'setServiceForcedDown' : 'setServiceEnabled', subject: service[1] };
  }
  // The legacy (< 2.53) forms: PUT /os-services/force-down, /enable, /disable, /disable-log-reason.
  const legacy = /^\/os-services\/(force-down|enable|disable|disable-log-reason)$/.exec(path);
  if (method === 'PUT' && legacy) return { action: legacy[1] === 'force-down' ? 'setServiceForcedDown' : 'setServiceEnabled', subject: String(parse(body).host ?? '') };
  return { action: 'other' };
}

function parse(body: Buffer): Record<string, unknown> {
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
