import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { closeOnce, listenOnLoopback } from './loopback-server.js';
import { parseTarget } from './proxy.js';

export interface ForwardProxyOptions {
  /** Basic proxy authentication (407 without it); the password is compared, never logged or returned. */
  auth?: { username: string; password: string };
  /** Names the proxy resolves itself, `host:port` -> `host:port` (as a corporate proxy's DNS knows the registries). */
  resolve?: Record<string, string>;
}

export interface ForwardProxyStats {
  /** Absolute-URI requests forwarded (plain HTTP through the proxy). */
  forwarded: number;
  /** CONNECT tunnels opened (HTTPS through the proxy). */
  tunnels: number;
  /** Requests or tunnels refused with 407 (no or wrong Proxy-Authorization). */
  authRequired: number;
  /** Requests by target `host:port` as the client named it. */
  byTarget: Record<string, number>;
}

export interface StartedForwardProxy extends AsyncDisposable {
  readonly host: string;
  readonly url: string;
  stats(): ForwardProxyStats;
  close(): Promise<void>;
}

/**
 * An HTTP forward proxy on 127.0.0.1:0, as Go's http.Transport uses one for containerd: plain-HTTP requests
 * arrive with an absolute URI and are forwarded, HTTPS arrives as CONNECT host:port and is tunnelled (RFC 9110
 * 9.3.6); with `auth`, both need `Proxy-Authorization: Basic`, else 407 with a `Proxy-Authenticate` challenge.
 */
export async function startForwardProxy(opts: ForwardProxyOptions = {}): Promise<StartedForwardProxy> {
  const stats: ForwardProxyStats = { forwarded: 0, tunnels: 0, authRequired: 0, byTarget: {} };
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const sockets = new Set<Socket>();
  const expected = opts.auth ? Buffer.from(`Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}`) : undefined;
  const authorized = (req: IncomingMessage): boolean => {
    if (!expected) return true;
    const given = Buffer.from(req.headers['proxy-authorization'] ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const where = (hostPort: string): { host: string; port: number } => parseTarget(opts.resolve?.[hostPort] ?? hostPort, 'proxy request target');
  const count = (target: string): void => {
    stats.byTarget[target] = (stats.byTarget[target] ?? 0) + 1;
  };

  const server = createServer({ keepAlive: true }, (req: IncomingMessage, res: ServerResponse) => {
    if (!authorized(req)) {
      stats.authRequired++;
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="pullbench-proxy"', 'content-length': 0 });
      res.end();
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '');
      if (url.protocol !== 'http:') throw new Error('not http');
    } catch {
      // An origin-form request: a client that does not know it talks to a proxy.
      res.writeHead(400, { 'content-length': 0 });
      res.end();
      return;
    }
    const hostPort = `${url.hostname}:${url.port || '80'}`;
    count(hostPort);
    stats.forwarded++;
    let target: { host: string; port: number };
    try {
      target = where(hostPort);
    } catch {
      res.writeHead(502, { 'content-length': 0 });
      res.end();
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = request({ host: target.host, port: target.port, method: req.method, path: url.pathname + url.search, headers, agent });
    upstream.on('response', (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-length': 0 });
        res.end();
      } else res.destroy();
    });
    req.pipe(upstream);
  });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    if (!authorized(req)) {
      stats.authRequired++;
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="pullbench-proxy"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    let target: { host: string; port: number };
    try {
      target = where(req.url ?? '');
    } catch {
      client.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    count(req.url ?? '');
    stats.tunnels++;
    const upstream = connect({ host: target.host, port: target.port }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => {
      if (client.writable) client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      client.destroy();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const port = await listenOnLoopback(server, 'forward proxy');
  const close = closeOnce(`forward proxy 127.0.0.1:${port}`, server, sockets, () => agent.destroy());
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ ...stats, byTarget: { ...stats.byTarget } }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
