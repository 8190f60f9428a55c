import { createConnection, createServer, type Socket } from 'node:net';
import { PullbenchError } from '../errors.js';
import { seededRandom, type Clock } from '../core/clock.js';
import { closeOnce, listenOnLoopback } from './loopback-server.js';
import { localServer } from './local-servers.js';
import { ShapedServerSocket } from './shaped-server-socket.js';
import { Link, type LinkSpec, type SharedUplink, type ShapedFlow } from './shaper.js';

export interface ProxyStats {
  connections: number;
  activeConnections: number;
  /** Bytes delivered to the client (registry -> node). */
  bytesDown: number;
  /** Bytes delivered to the target (node -> registry). */
  bytesUp: number;
  resets: number;
  stalls: number;
}

export interface StartedProxy extends AsyncDisposable {
  /** `127.0.0.1:PORT`, for image references and hosts.toml. */
  readonly host: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly link: Link;
  stats(): ProxyStats;
  close(): Promise<void>;
}

export interface ShapedProxyOptions {
  /** `host:port` to forward to. */
  target: string;
  /** A spec (a link of its own) or a Link shared with other proxies of the same node. */
  link: LinkSpec | Link;
  /** The registry's egress, shared with other links (ignored when `link` is a Link: it has its own). */
  uplink?: SharedUplink;
  clock?: Clock;
  /**
   * Relay through a second TCP connection even when the target is an HTTP server of this thread (the embedded
   * registry or mirror), which otherwise gets the connections itself, shaped on the way (ShapedServerSocket).
   */
  relay?: boolean;
}

/** Above this many queued bytes a direction stops reading its source (TCP backpressure). */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 512 * 1024;
const DEFAULT_FAULT_WINDOW = 256 * 1024;
/**
 * A receiving socket counts as ready while less than this is waiting in its write
 * buffer (a TCP send buffer's worth), not only once Node's 16 KiB high-water mark
 * drains: a 64 KiB quantum always passes that mark, and a link skipped for it loses
 * its turn to the others sharing an uplink.
 */
const SINK_BUFFER = 256 * 1024;
const DEFAULT_STALL_MS = 2000;

/** `host:port` (IPv6 in brackets) as connect() takes it; `what` names it in the error. */
export function parseTarget(target: string, what = 'proxy target'): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(target);
  const port = Number(m?.[2]);
  if (m === null || !(port > 0 && port < 65536)) {
    throw new PullbenchError('INVALID_ARGUMENT', `${what} must be host:port, got ${JSON.stringify(target)}`);
  }
  return { host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * The part of `chunk` to deliver when `delivered` bytes went before it and the connection resets at byte `resetAt`:
 * a reset within a chunk cuts it there, so the node never sees more than the fault's byte (a batch of quanta
 * delivered whole could otherwise reach it complete, its RST after the end).
 */
function cutAt(chunk: Buffer, delivered: number, resetAt: number): Buffer {
  return delivered + chunk.length > resetAt ? chunk.subarray(0, Math.max(0, resetAt - delivered)) : chunk;
}

/** Feeds a socket into a flow, pausing the socket while the flow is full. */
function pump(from: Socket, flow: ShapedFlow): void {
  from.on('data', (chunk: Buffer) => {
    flow.write(chunk);
    if (flow.queuedBytes > HIGH_WATER) {
      from.pause();
      flow.whenBelow(LOW_WATER, () => from.resume());
    }
  });
  from.on('end', () => flow.end());
}

/**
 * A TCP proxy on 127.0.0.1:0 that forwards to `target` through a shaped link,
 * both directions: usable by our runtime and by a real containerd (point its
 * hosts.toml or the image reference at `host`). No root, no netem.
 */
export async function startShapedProxy(opts: ShapedProxyOptions): Promise<StartedProxy> {
  const target = parseTarget(opts.target);
  const link = opts.link instanceof Link ? opts.link : new Link(opts.link, { uplink: opts.uplink, clock: opts.clock });
  const faults = link.spec.faults ?? {};
  const random = seededRandom(faults.seed ?? 1);
  const stats: ProxyStats = { connections: 0, activeConnections: 0, bytesDown: 0, bytesUp: 0, resets: 0, stalls: 0 };
  const sockets = new Set<Socket>();

  const server = createServer({ noDelay: true }, (client) => {
    stats.connections++;
    stats.activeConnections++;
    // Draw the same number of values per connection so that faults depend only on the seed and connection order.
    const window = faults.resetWithinBytes ?? DEFAULT_FAULT_WINDOW;
    const resetAt = random() < (faults.resetRate ?? 0) ? Math.floor(random() * window) : (random(), Infinity);
    const stallAt = random() < (faults.stallRate ?? 0) ? Math.floor(random() * window) : (random(), Infinity);

    const local = opts.relay === true ? undefined : localServer(`${target.host}:${target.port}`);
    if (local !== undefined) {
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      let delivered = 0;
      let stalled = false;
      const shaped = new ShapedServerSocket(client, link, {
        delivered: (chunk) => {
          const write = cutAt(chunk, delivered, resetAt);
          delivered += write.length;
          stats.bytesDown += write.length;
          if (delivered >= resetAt) {
            stats.resets++;
            return { write, fault: 'reset' };
          }
          if (!stalled && delivered >= stallAt) {
            stalled = true;
            stats.stalls++;
            return { write, fault: 'stall' };
          }
          return { write };
        },
        received: (chunk) => {
          stats.bytesUp += chunk.length;
        },
        stallMs: faults.stallMs ?? DEFAULT_STALL_MS,
        gone: () => {
          stats.activeConnections--;
        },
      });
      local.emit('connection', shaped);
      return;
    }

    const upstream = createConnection({ host: target.host, port: target.port, noDelay: true });
    sockets.add(client);
    sockets.add(upstream);
    let closed = false;
    let delivered = 0;
    let stalled = false;

    const down: ShapedFlow = link.openFlow('down', {
      deliver: (whole) => {
        if (closed) return;
        const chunk = cutAt(whole, delivered, resetAt);
        delivered += chunk.length;
        stats.bytesDown += chunk.length;
        client.write(chunk);
        if (delivered >= resetAt) {
          stats.resets++;
          teardown(true);
          return;
        }
        if (!stalled && delivered >= stallAt) {
          stalled = true;
          stats.stalls++;
          down.stall(faults.stallMs ?? DEFAULT_STALL_MS);
        }
      },
      end: () => client.end(),
      writable: () => client.writableLength < SINK_BUFFER,
    });
    const up: ShapedFlow = link.openFlow('up', {
      deliver: (chunk) => {
        if (closed) return;
        stats.bytesUp += chunk.length;
        upstream.write(chunk);
      },
      end: () => upstream.end(),
      writable: () => upstream.writableLength < SINK_BUFFER,
    });
    if (link.spec.handshake !== false && link.spec.latencyMs > 0) up.stall(2 * link.spec.latencyMs);
    client.on('drain', () => down.resume());
    upstream.on('drain', () => up.resume());
    pump(client, up);
    pump(upstream, down);

    const teardown = (reset: boolean): void => {
      if (closed) return;
      closed = true;
      stats.activeConnections--;
      down.abort();
      up.abort();
      // An RST sent in the same tick as a write can reach the client as a clean FIN; let the write go first.
      if (reset) setImmediate(() => client.resetAndDestroy());
      else client.destroy();
      upstream.destroy();
    };
    // An error on either side resets the connection; a clean close of both ends tears down.
    client.on('error', () => teardown(true));
    upstream.on('error', () => teardown(true));
    let closes = 0;
    const onClose = (s: Socket): void => {
      sockets.delete(s);
      if (++closes === 2 && !closed) {
        closed = true;
        stats.activeConnections--;
        down.abort();
        up.abort();
      }
    };
    client.on('close', () => onClose(client));
    upstream.on('close', () => onClose(upstream));
  });

  const port = await listenOnLoopback(server, 'shaped proxy');
  const close = closeOnce(`shaped proxy 127.0.0.1:${port}`, server, sockets);

  return {
    host: `127.0.0.1:${port}`,
    port,
    url: `http://127.0.0.1:${port}`,
    link,
    stats: () => ({ ...stats }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
