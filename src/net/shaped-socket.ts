import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { seededRandom, systemClock, type Clock } from '../core/clock.js';
import { parseTarget, type ProxyStats } from './proxy.js';
import { TcpBackedDuplex } from './tcp-backed-duplex.js';
import { Link, SharedUplink, type LinkSpec, type ShapedFlow, type UplinkShares } from './shaper.js';

/** Above this many queued bytes a direction stops reading its source (as the proxy does). */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 512 * 1024;
const DEFAULT_FAULT_WINDOW = 256 * 1024;
const DEFAULT_STALL_MS = 2000;

/**
 * A shaped way to one registry, as plain data (it crosses into worker threads):
 * connections to `target` go through a link of this spec.
 */
export interface ShapedRouteSpec {
  /** A name for the route's byte counts, e.g. `registry` or `mirror`. */
  name: string;
  /** `host:port` the connections go to, or `*`: any target no other route names (a node's link to all its peers). */
  target: string;
  link: LinkSpec;
  /** The registry's egress, shared with the other nodes' links that name the same `key`. */
  uplink?: { key: string; bandwidthBps: number; shares?: UplinkShares };
}

/** Per route: the same counters a shaped proxy keeps. */
export type RouteStats = Record<string, ProxyStats>;

// One SharedUplink per key per thread, so every node of a thread shares one; counted so the last user drops it.
const uplinks = new Map<string, { uplink: SharedUplink; users: number }>();

function acquireUplink(spec: NonNullable<ShapedRouteSpec['uplink']>): SharedUplink {
  let entry = uplinks.get(spec.key);
  if (entry === undefined) {
    entry = { uplink: new SharedUplink(spec.bandwidthBps, spec.shares), users: 0 };
    uplinks.set(spec.key, entry);
  }
  entry.users++;
  return entry.uplink;
}

function releaseUplink(key: string): void {
  const entry = uplinks.get(key);
  if (entry !== undefined && --entry.users === 0) uplinks.delete(key);
}

const ANY_TARGET = '*';

interface Route {
  spec: ShapedRouteSpec;
  host: string;
  port: number;
  link: Link;
  random: () => number;
  stats: ProxyStats;
}

/**
 * A node's shaped links without a proxy: the HTTP client's connections to a
 * route's target are real TCP connections to it, wrapped in a stream that applies
 * the link (bandwidth, latency, jitter, the handshake's round trip, the shared
 * uplink, faults) in this thread. The same shaping as `startShapedProxy`, at half
 * the socket work: no second connection, nothing for another thread to relay.
 * Give `connect` to an `HttpPool`; dispose to drop the uplinks.
 */
export class ShapedRoutes {
  private readonly routes: Route[];
  private readonly sockets = new Set<ShapedSocket>();
  private closed = false;

  constructor(specs: ShapedRouteSpec[], opts: { clock?: Clock } = {}) {
    const clock = opts.clock ?? systemClock;
    this.routes = specs.map((spec) => {
      const { host, port } = spec.target === ANY_TARGET ? { host: ANY_TARGET, port: 0 } : parseTarget(spec.target, 'route target');
      const uplink = spec.uplink ? acquireUplink(spec.uplink) : undefined;
      return {
        spec, host, port,
        link: new Link(spec.link, { clock, ...(uplink ? { uplink } : {}) }),
        random: seededRandom(spec.link.faults?.seed ?? 1),
        stats: { connections: 0, activeConnections: 0, bytesDown: 0, bytesUp: 0, resets: 0, stalls: 0 },
      };
    });
  }

  /** A shaped connection when `host:port` is a route's target; undefined for anything else. */
  readonly connect = (target: { host: string; port: number }): Duplex | undefined => {
    const route = this.routes.find((r) => r.port === target.port && r.host === target.host) ?? this.routes.find((r) => r.host === ANY_TARGET);
    if (route === undefined || this.closed) return undefined;
    const socket = new ShapedSocket(route, target, (s) => this.sockets.delete(s));
    this.sockets.add(socket);
    return socket;
  };

  stats(): RouteStats {
    const out: RouteStats = {};
    for (const r of this.routes) {
      const prev = out[r.spec.name];
      out[r.spec.name] = prev === undefined ? { ...r.stats } : sumStats(prev, r.stats);
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    for (const r of this.routes) if (r.spec.uplink) releaseUplink(r.spec.uplink.key);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function sumStats(a: ProxyStats, b: ProxyStats): ProxyStats {
  return {
    connections: a.connections + b.connections,
    activeConnections: a.activeConnections + b.activeConnections,
    bytesDown: a.bytesDown + b.bytesDown,
    bytesUp: a.bytesUp + b.bytesUp,
    resets: a.resets + b.resets,
    stalls: a.stalls + b.stalls,
  };
}

function resetError(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('read ECONNRESET');
  err.code = 'ECONNRESET';
  err.errno = -104;
  err.syscall = 'read';
  return err;
}

/**
 * One connection through a shaped route: a Duplex the HTTP client uses as its
 * socket. Bytes the client writes leave for the registry through the link's up
 * direction; the registry's bytes reach the client through its down direction.
 * Socket methods the HTTP agent calls (timeouts, keep-alive, ref) go to the TCP socket.
 */
class ShapedSocket extends TcpBackedDuplex {
  private readonly down: ShapedFlow;
  private readonly up: ShapedFlow;
  private gone = false;
  private delivered = 0;
  private stalled = false;

  constructor(
    private readonly route: Route,
    target: { host: string; port: number },
    private readonly onGone: (s: ShapedSocket) => void,
  ) {
    super(createConnection({ host: target.host, port: target.port, noDelay: true }));
    const { stats, link, random } = route;
    stats.connections++;
    stats.activeConnections++;
    // The same draws per connection as the proxy, so faults follow the seed and the connection order.
    const faults = link.spec.faults ?? {};
    const window = faults.resetWithinBytes ?? DEFAULT_FAULT_WINDOW;
    const resetAt = random() < (faults.resetRate ?? 0) ? Math.floor(random() * window) : (random(), Infinity);
    const stallAt = random() < (faults.stallRate ?? 0) ? Math.floor(random() * window) : (random(), Infinity);

    this.down = link.openFlow('down', {
      deliver: (chunk) => {
        if (this.gone) return;
        this.delivered += chunk.length;
        stats.bytesDown += chunk.length;
        this.push(chunk);
        if (this.delivered >= resetAt) {
          stats.resets++;
          this.destroy(resetError());
          return;
        }
        if (!this.stalled && this.delivered >= stallAt) {
          this.stalled = true;
          stats.stalls++;
          this.down.stall(faults.stallMs ?? DEFAULT_STALL_MS);
        }
      },
      end: () => {
        if (!this.gone) this.push(null);
      },
      writable: () => this.readableLength < this.readableHighWaterMark,
    });
    this.up = link.openFlow('up', {
      deliver: (chunk) => {
        if (this.gone) return;
        stats.bytesUp += chunk.length;
        this.tcp.write(chunk);
      },
      end: () => this.tcp.end(),
      writable: () => !this.tcp.writableNeedDrain,
    });
    // TCP's handshake: the request's first bytes reach the registry a round trip late.
    if (link.spec.handshake !== false && link.spec.latencyMs > 0) this.up.stall(2 * link.spec.latencyMs);
    this.tcp.on('drain', () => this.up.resume());
    this.tcp.on('data', (chunk: Buffer) => {
      this.down.write(chunk);
      if (this.down.queuedBytes > HIGH_WATER) {
        this.tcp.pause();
        this.down.whenBelow(LOW_WATER, () => this.tcp.resume());
      }
    });
    this.tcp.on('end', () => this.down.end());
    this.tcp.on('error', (err) => this.destroy(err));
    this.tcp.on('close', () => {
      // Closed without an error: what was already sent still arrives, then the end.
      this.down.end();
    });
    this.tcp.on('timeout', () => this.emit('timeout'));
  }

  override _read(): void {
    this.down.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.up.write(chunk);
    if (this.up.queuedBytes > HIGH_WATER) this.up.whenBelow(LOW_WATER, () => cb());
    else cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.up.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.gone) {
      this.gone = true;
      this.route.stats.activeConnections--;
      this.down.abort();
      this.up.abort();
      this.tcp.destroy();
      this.onGone(this);
    }
    cb(err);
  }
}
