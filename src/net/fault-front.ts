import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { PullbenchError } from '../errors.js';
import { registerCleanup } from '../util/cleanup.js';
import { parseTarget } from './proxy.js';

/** What a fault does to the requests that meet it. */
export type FaultKind = 'refuse' | 'reset' | 'stall' | 'latency' | 'corrupt' | 'credentials-expire' | 401 | 404 | 429 | 500 | 503;

/** A fault's window, in ms since the epoch. */
export interface FaultWindow {
  kind: FaultKind;
  startAt: number;
  endAt: number;
  /** kind latency: the delay per request (default 1 s). */
  latencyMs?: number;
}

/** Faults that hold for the whole armed time: a share of 503s, a fixed delay (`registry.faults`). */
export interface SteadyFaults {
  errorRate?: number;
  latencyMs?: number;
}

export interface FaultFrontOptions {
  /** `host:port` of the server behind the front. */
  target: string;
  steady?: SteadyFaults;
  /** Draws for the steady error rate (seeded in tests). */
  random?: () => number;
  now?: () => number;
}

export interface FaultFrontStats {
  /** Requests forwarded to the target. */
  forwarded: number;
  /** Requests (or, for refuse, connections) each kind answered instead of the target, plus `errorRate` for the steady 503s. */
  faulted: Record<string, number>;
}

export interface StartedFaultFront extends AsyncDisposable {
  /** `127.0.0.1:PORT`: route the nodes (or a mirror's upstream) here instead of the target. */
  readonly host: string;
  readonly url: string;
  /** Turns the steady faults on (the rollout starts): nothing is faulted before. */
  arm(): void;
  /** A fault window to meet requests with, once its time comes. */
  add(window: FaultWindow): void;
  stats(): FaultFrontStats;
  close(): Promise<void>;
}

const DEFAULT_LATENCY_MS = 1000;
const STATUS_TEXT: Record<number, [code: string, message: string]> = {
  401: ['UNAUTHORIZED', 'authentication required'],
  404: ['MANIFEST_UNKNOWN', 'manifest unknown'],
  429: ['TOOMANYREQUESTS', 'too many requests'],
  500: ['UNKNOWN', 'internal server error'],
  503: ['UNAVAILABLE', 'service unavailable'],
};

/**
 * An HTTP front on 127.0.0.1:0 that forwards to a registry (or mirror, or proxy) and, once armed, meets
 * the requests that arrive inside a fault window with that fault: the server's answer (a status), the
 * network's (refused, reset mid-body, stalled, slowed), a peer's corrupt bytes, or an expired credential (401 to every request
 * that carries one). Whatever the server is (embedded, distribution, a container, external), the nodes
 * meet the same fault at the same time; seeding and pre-pulls go around it or come before `arm`.
 */
export async function startFaultFront(opts: FaultFrontOptions): Promise<StartedFaultFront> {
  const target = parseTarget(opts.target, 'fault front target');
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const windows: FaultWindow[] = [];
  const stats: FaultFrontStats = { forwarded: 0, faulted: {} };
  const count = (kind: string): void => {
    stats.faulted[kind] = (stats.faulted[kind] ?? 0) + 1;
  };
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let armed = false;
  let origin = '';

  const active = (kind: FaultKind): FaultWindow | undefined => {
    const t = now();
    return windows.find((w) => w.kind === kind && t >= w.startAt && t < w.endAt);
  };
  const activeStatus = (): FaultWindow | undefined => {
    const t = now();
    return windows.find((w) => typeof w.kind === 'number' && t >= w.startAt && t < w.endAt);
  };
  // A stall holds until its window ends: resolves then (at once when no stall is on).
  const stallEnd = (): Promise<void> => {
    const w = active('stall');
    return w ? sleep(w.endAt - now()) : Promise.resolve();
  };
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, Math.max(0, ms));
      timers.add(timer);
    });

  const answer = (req: IncomingMessage, res: ServerResponse, status: number): void => {
    const [code, message] = STATUS_TEXT[status] ?? ['UNKNOWN', 'injected fault'];
    const body = Buffer.from(JSON.stringify({ errors: [{ code, message: `injected fault: ${message}` }] }));
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': body.length, 'docker-distribution-api-version': 'registry/2.0' };
    if (status === 401) headers['www-authenticate'] = `Basic realm="${origin}"`;
    if (status === 429) headers['retry-after'] = '10';
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const latency = active('latency');
    if (latency) await sleep(latency.latencyMs ?? DEFAULT_LATENCY_MS);
    if (armed && opts.steady?.latencyMs) await sleep(opts.steady.latencyMs);
    if (active('stall')) {
      count('stall');
      await stallEnd();
    }
    if (active('reset') && req.method === 'HEAD') {
      count('reset');
      req.socket.resetAndDestroy();
      return;
    }
    const status = activeStatus();
    if (status && typeof status.kind === 'number') {
      count(String(status.kind));
      answer(req, res, status.kind);
      return;
    }
    if (active('credentials-expire') && (req.headers.authorization !== undefined || /[?&](scope|service)=/.test(req.url ?? ''))) {
      count('credentials-expire');
      answer(req, res, 401);
      return;
    }
    if (armed && opts.steady?.errorRate && random() < opts.steady.errorRate) {
      count('errorRate');
      answer(req, res, 503);
      return;
    }
    forward(req, res);
  };

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    stats.forwarded++;
    const upstream = request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers, agent });
    upstream.on('response', (up) => {
      const headers = { ...up.headers };
      // A token realm on the server itself is reached through the front too, so an expired credential meets it there.
      const challenge = headers['www-authenticate'];
      if (typeof challenge === 'string') headers['www-authenticate'] = challenge.split(`http://${opts.target}`).join(origin);
      const location = headers.location;
      if (typeof location === 'string') headers.location = location.split(`http://${opts.target}`).join(origin);
      res.writeHead(up.statusCode ?? 502, headers);
      const length = Number(up.headers['content-length'] ?? 0);
      let sent = 0;
      let resetDone = false;
      let stalled = false;
      let corrupted = false;
      up.on('data', (data: Buffer) => {
        if (resetDone) return;
        let chunk = data;
        // Corrupt: the body arrives whole, with one bit flipped per chunk (a peer serving bad bytes); the client's digest check is what catches it.
        if (active('corrupt') && chunk.length > 0) {
          if (!corrupted) count('corrupt');
          corrupted = true;
          chunk = Buffer.from(chunk);
          chunk[chunk.length >> 1] = chunk[chunk.length >> 1]! ^ 0x01;
        }
        // Reset mid-body: the headers and half the body (at least one byte of it, so the headers go out with it) get
        // through, and once the socket has handed them to the kernel the connection is reset (RST, not FIN): the
        // client reads a response that started and was cut. Node >= 24 reports the reset on the client's request as
        // well as on its response; the response has started all the same (test/faults/fault-front.test.ts).
        if (active('reset') && length > 1 && sent + chunk.length >= length / 2) {
          resetDone = true;
          count('reset');
          const part = chunk.subarray(0, Math.max(1, Math.floor(length / 2) - sent));
          res.write(part, () => setImmediate(() => req.socket.resetAndDestroy()));
          up.destroy();
          return;
        }
        sent += chunk.length;
        if (!res.write(chunk)) up.pause();
        if (active('stall')) {
          up.pause();
          if (!stalled) count('stall');
          stalled = true;
          void stallEnd().then(() => up.resume());
        }
      });
      res.on('drain', () => {
        if (!active('stall')) up.resume();
      });
      up.on('end', () => {
        if (!resetDone) res.end();
      });
      up.on('error', () => res.destroy());
    });
    upstream.on('error', () => {
      if (!res.headersSent) answer(req, res, 502);
      else res.destroy();
    });
    req.pipe(upstream);
  };

  const server = createServer({ keepAlive: true }, (req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // Reset on a connection: the client sees ECONNRESET, not a clean close (as a server or a link going away).
    if (active('refuse')) {
      count('refuse');
      socket.resetAndDestroy();
    }
  });

  let port = 0;
  const listen = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new PullbenchError('INTERNAL', `fault front could not listen: ${err.message}`, { cause: err })));
      server.listen(port, '127.0.0.1', () => resolve());
    });
  await listen();
  port = (server.address() as { port: number }).port;
  origin = `http://127.0.0.1:${port}`;

  // refuse: the front stops listening for the window (new connections are refused, open ones reset), then listens again.
  const scheduleRefusal = (w: FaultWindow): void => {
    const start = setTimeout(() => {
      timers.delete(start);
      count('refuse');
      if (server.listening) server.close();
      for (const s of sockets) s.resetAndDestroy();
    }, Math.max(0, w.startAt - now()));
    timers.add(start);
    relistenAt(w.endAt);
  };
  // Listening again once no refusal holds. A timer can fire a millisecond before `now()` (the wall clock) reaches
  // the window's end, when the window still reads as active: then it checks again at the end of whichever refusal
  // holds (this one, or an overlapping later one), rather than never listening again (a pull that retried after
  // the window met a refused connection, and every one after it; test/faults/fault-front.test.ts).
  const relistenAt = (endAt: number): void => {
    const end = setTimeout(() => {
      timers.delete(end);
      if (closed || server.listening) return;
      const holding = active('refuse');
      if (holding) relistenAt(holding.endAt);
      else void listen().catch(() => undefined);
    }, Math.max(1, endAt - now()));
    timers.add(end);
  };

  let closed = false;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      closed = true;
      unregister();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      agent.destroy();
      if (server.listening) server.close(() => resolve());
      else resolve();
    });
    return closing;
  };
  const unregister = registerCleanup(`fault front 127.0.0.1:${port}`, close, { endsWithProcess: true });

  return {
    host: `127.0.0.1:${port}`,
    url: origin,
    arm() {
      armed = true;
    },
    add(window) {
      windows.push(window);
      if (window.kind === 'refuse') scheduleRefusal(window);
    },
    stats: () => ({ forwarded: stats.forwarded, faulted: { ...stats.faulted } }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
