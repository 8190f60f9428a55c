import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type ClientRequest, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable, pipeline, type Duplex } from 'node:stream';
import { PullbenchError } from '../errors.js';
import { proxyForUrl, type ProxyEnv } from './proxy-env.js';

/** The part of an HTTP response the registry client reads. `headers.get` matches the fetch API's. */
export interface HttpResponse {
  status: number;
  headers: { get(name: string): string | null };
  /** The body as a Node stream; consume it, or destroy it to give up the connection. */
  body: Readable;
  /**
   * Set when the transport saved the body as the request's `saveTo` asked (the body
   * stream is then empty): resolves to the bytes saved once they are verified and
   * in place, rejects as the body or its verification failed.
   */
  saved?: Promise<number>;
  /** With `saved`: the bytes of the body received so far (a runtime's progress check reads it while the body is saved). */
  progress?: () => number;
}

export interface HttpRequest {
  method: string;
  headers: Record<string, string>;
  body?: Buffer | Readable;
  /** Aborts the request while it waits for response headers. */
  signal?: AbortSignal;
  /**
   * A transport that can (a runtime's layer thread) saves a 200 response's body
   * itself: verified against `digest` as it streams (its size against
   * Content-Length), written to `partial`, synced and renamed to `path`. One that
   * cannot ignores it and returns the body as usual.
   */
  saveTo?: { digest: string; partial: string; path: string };
}

/** Sends one HTTP request: a connection pool, or a `fetch` behind an adapter. */
export interface HttpTransport {
  request(url: string, req: HttpRequest): Promise<HttpResponse>;
}

export interface HttpPoolOptions {
  /** Connections open at once per host (queued beyond), default 64. */
  maxConnectionsPerHost?: number;
  /** Idle connections kept per host: Go's DefaultMaxIdleConnsPerHost (2), which containerd's transport keeps. */
  maxIdlePerHost?: number;
  /** An idle connection is closed after this long: containerd's CRI transport uses 30 s. */
  idleTimeoutMs?: number;
  /** Bytes a response body buffers before the socket is paused (default 256 KiB: fewer pause/resume turns on big blobs). */
  highWaterMark?: number;
  /** TLS: accept any certificate (hosts.toml `skip_verify`). */
  insecureSkipVerify?: boolean;
  /**
   * Opens plain-HTTP connections in place of a TCP connect: a stream for the
   * target (a shaped link: `ShapedRoutes.connect`), or undefined to connect directly.
   */
  connect?: (target: { host: string; port: number }) => Duplex | undefined;
  /** The runtime's proxy environment (HTTP_PROXY, NO_PROXY), chosen per request as Go's ProxyFromEnvironment does. */
  proxy?: ProxyEnv;
}

export interface HttpPoolStats {
  /** TCP (or TLS) connections opened since the pool was created. */
  connections: number;
  requests: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
const HIGH_WATER_MARK = 256 * 1024;

/**
 * Keep-alive connections per host, as Go's http.Transport keeps them for
 * containerd: sequential requests to a host share one TCP connection, parallel
 * ones open more (bounded), and a few stay idle for the next request. Built on
 * node:http (no WHATWG stream hops on blob bodies). Dispose it to close every
 * socket it holds. Redirects of GET and HEAD are followed (blob storage), and
 * the Authorization header is dropped when a redirect leaves the origin.
 */
export class HttpPool implements HttpTransport, AsyncDisposable {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;
  private readonly counters: HttpPoolStats = { connections: 0, requests: 0 };
  private closed = false;
  private readonly highWaterMark: number;
  private readonly proxyEnv: ProxyEnv | undefined;

  constructor(opts: HttpPoolOptions = {}) {
    this.proxyEnv = opts.proxy;
    const common = {
      keepAlive: true,
      maxSockets: opts.maxConnectionsPerHost ?? 64,
      maxFreeSockets: opts.maxIdlePerHost ?? 2,
      timeout: opts.idleTimeoutMs ?? 30_000,
      scheduling: 'lifo' as const,
    };
    this.highWaterMark = opts.highWaterMark ?? HIGH_WATER_MARK;
    this.http = new HttpAgent(common);
    this.https = new HttpsAgent({ ...common, ...(opts.insecureSkipVerify ? { rejectUnauthorized: false } : {}) });
    for (const agent of [this.http, this.https]) {
      const create = agent.createConnection.bind(agent) as (...args: unknown[]) => unknown;
      const connect = agent === this.http ? opts.connect : undefined;
      (agent as unknown as { createConnection: (...args: unknown[]) => unknown }).createConnection = (...args: unknown[]) => {
        this.counters.connections++;
        const target = args[0] as { host?: string; port?: number | string };
        const shaped = connect?.({ host: target.host ?? 'localhost', port: Number(target.port ?? 80) });
        return shaped ?? create(...args);
      };
    }
  }

  stats(): HttpPoolStats {
    return { ...this.counters };
  }

  async request(url: string, req: HttpRequest): Promise<HttpResponse> {
    let target = new URL(url);
    let headers = req.headers;
    for (let hop = 0; ; hop++) {
      const res = await this.once(target, { ...req, headers });
      const location = res.headers.get('location');
      const follow = REDIRECTS.has(res.status) && location && (req.method === 'GET' || req.method === 'HEAD') && hop < MAX_REDIRECTS;
      if (!follow) return res;
      res.body.resume();
      const next = new URL(location, target);
      if (next.origin !== target.origin) {
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
      }
      target = next;
    }
  }

  private once(url: URL, req: HttpRequest, retried = false): Promise<HttpResponse> {
    if (this.closed) return Promise.reject(new Error('the connection pool is closed'));
    this.counters.requests++;
    const https = url.protocol === 'https:';
    const proxy = this.proxyEnv ? proxyForUrl(url, this.proxyEnv) : undefined;
    if (proxy && (https || proxy.protocol !== 'http:')) {
      return Promise.reject(new PullbenchError('INVALID_ARGUMENT', `${url.origin} through proxy ${proxy.host}: the embedded runtime sends plain HTTP through an http:// proxy only (no CONNECT); use runtime containerd`));
    }
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const send = https ? httpsRequest : httpRequest;
      // `highWaterMark` sizes the response's buffer (Node >= 20.0 honours it; @types/node does not list it).
      const options = { method: req.method, headers: req.headers, agent: https ? this.https : this.http, highWaterMark: this.highWaterMark };
      // Through a proxy, Go's Transport sends plain HTTP with the absolute URI, and the proxy URL's user info as Proxy-Authorization.
      const client: ClientRequest = proxy
        ? httpRequest({ ...options, host: proxy.hostname, port: Number(proxy.port || 80), path: url.href, headers: { ...req.headers, host: url.host, ...proxyAuthorization(proxy) } } as RequestOptions)
        : send(url, options as Parameters<typeof httpRequest>[1]);
      const onAbort = (): void => {
        client.destroy(new Error('request aborted'));
      };
      const done = (): void => {
        settled = true;
        req.signal?.removeEventListener('abort', onAbort);
      };
      req.signal?.addEventListener('abort', onAbort, { once: true });
      if (req.signal?.aborted) onAbort();
      client.on('response', (res: IncomingMessage) => {
        done();
        // Nothing to read: let the connection go back to the pool at once.
        if (req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) res.resume();
        else markUnexpectedEof(res);
        resolve({ status: res.statusCode ?? 0, headers: headersOf(res), body: res });
      });
      let bodyError: unknown;
      client.on('error', (err) => {
        if (settled) return;
        done();
        if (bodyError !== undefined) {
          reject(bodyError);
          return;
        }
        // A kept-alive connection the server closed as we reused it: Go's transport retries such
        // idempotent requests on a new connection, and so do we (once).
        const replayable = client.reusedSocket && !retried && !(req.body instanceof Readable) && !req.signal?.aborted;
        if (replayable && (req.method === 'GET' || req.method === 'HEAD') && isConnectionReset(err)) {
          this.once(url, req, true).then(resolve, reject);
          return;
        }
        reject(err);
      });
      if (req.body instanceof Readable) {
        // A body that fails (its own digest check, say) is the request's error, not the hang-up it causes.
        req.body.once('error', (err) => {
          bodyError = err;
        });
        pipeline(req.body, client, () => {
          /* a failed body destroys the request, which reports the error above */
        });
      } else {
        client.end(req.body);
      }
    });
  }

  /** Closes every connection, idle or busy. */
  async close(): Promise<void> {
    this.closed = true;
    this.http.destroy();
    this.https.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function proxyAuthorization(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  const user = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(user).toString('base64')}` };
}

function isConnectionReset(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

function headersOf(res: IncomingMessage): HttpResponse['headers'] {
  return {
    get: (name) => {
      const v = res.headers[name.toLowerCase()];
      if (v === undefined) return null;
      return Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

/** A transport over a fetch function (link shaping, counting in tests): bodies cross WHATWG streams. */
export function fetchTransport(fetchFn: typeof fetch): HttpTransport {
  return {
    async request(url, req) {
      const init: RequestInit & { duplex?: 'half' } = { method: req.method, headers: req.headers, ...(req.signal ? { signal: req.signal } : {}) };
      if (req.body !== undefined) {
        init.body = Buffer.isBuffer(req.body) ? req.body : (Readable.toWeb(req.body) as unknown as ReadableStream);
        if (!Buffer.isBuffer(req.body)) init.duplex = 'half';
      }
      const res = await fetchFn(url, init);
      const body = res.body ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream) : Readable.from([]);
      return { status: res.status, headers: res.headers, body };
    },
  };
}

// A body whose connection ended (no socket error) before its length fails with `unexpectedEof`, as Go's reader
// returns io.ErrUnexpectedEOF there (what containerd's fetcher resumes: src/oci/resuming-body.ts); a reset does not.
function markUnexpectedEof(res: IncomingMessage): void {
  const socket = res.socket;
  let socketError = false;
  const onSocketError = (): void => {
    socketError = true;
  };
  socket.once('error', onSocketError);
  res.once('close', () => socket.off('error', onSocketError));
  res.once('error', (err) => {
    if (!socketError && !res.complete) Object.assign(err, { unexpectedEof: true });
  });
}
