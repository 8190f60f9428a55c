import { createServer, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpPool } from '../../src/net/http-pool.js';
import { Link, ManualClock, SharedUplink } from '../../src/net/index.js';
import { ShapedRoutes, type ShapedRouteSpec } from '../../src/net/shaped-socket.js';

const servers: Server[] = [];
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** An HTTP server answering every GET with `bytes` bytes; records the peer of each request. */
async function bulkServer(bytes: number): Promise<{ target: string; peers: string[] }> {
  const peers: string[] = [];
  const body = Buffer.alloc(bytes, 7);
  const server = createServer((req, res) => {
    peers.push(`${req.socket.remoteAddress}:${req.socket.remotePort}`);
    res.writeHead(200, { 'content-length': String(body.length) });
    res.end(body);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { target: `127.0.0.1:${(server.address() as { port: number }).port}`, peers };
}

function setup(routes: ShapedRouteSpec[]): { pool: HttpPool; shaped: ShapedRoutes } {
  const shaped = new ShapedRoutes(routes);
  const pool = new HttpPool({ connect: shaped.connect });
  closers.push(() => pool.close(), () => shaped.close());
  return { pool, shaped };
}

/** GETs `url`; seconds from the first body byte to the end, and from the request to the end. */
async function get(pool: HttpPool, url: string): Promise<{ status: number; bytes: number; firstBytes: number; bodySeconds: number; totalSeconds: number }> {
  const t0 = performance.now();
  const res = await pool.request(url, { method: 'GET', headers: {} });
  let bytes = 0;
  let firstBytes = 0;
  let t1 = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    if (bytes === 0) {
      t1 = performance.now();
      firstBytes = chunk.length;
    }
    bytes += chunk.length;
  }
  const end = performance.now();
  return { status: res.status, bytes, firstBytes, bodySeconds: (end - t1) / 1000, totalSeconds: (end - t0) / 1000 };
}

describe('shaped routes (a link without a proxy)', () => {
  it('delivers an HTTP body at the link bandwidth over a direct connection, and reuses it', async () => {
    const size = 4 * 1024 * 1024;
    const server = await bulkServer(size);
    const { pool, shaped } = setup([{ name: 'registry', target: server.target, link: { bandwidthBps: 40e6, latencyMs: 5 } }]);
    const r = await get(pool, `http://${server.target}/blob`);
    expect(r).toMatchObject({ status: 200, bytes: size });
    const ideal = ((r.bytes - r.firstBytes) * 8) / 40e6;
    expect(r.bodySeconds / ideal).toBeGreaterThan(0.95);
    expect(r.bodySeconds / ideal).toBeLessThan(1.1);
    await get(pool, `http://${server.target}/blob`);
    const s = shaped.stats().registry!;
    expect(s.connections).toBe(1);
    expect(pool.stats().connections).toBe(1);
    // Both bodies and their response headers came down the link; the two requests went up it.
    expect(s.bytesDown).toBeGreaterThan(2 * size);
    expect(s.bytesDown).toBeLessThan(2 * size + 1024);
    expect(s.bytesUp).toBeGreaterThan(0);
    // The server saw a connection from the client itself, not from a relay.
    expect(new Set(server.peers).size).toBe(1);
  });

  it('charges a new connection its handshake round trip, a reused one only the request round trip', async () => {
    const server = await bulkServer(10);
    const { pool } = setup([{ name: 'registry', target: server.target, link: { bandwidthBps: 1e9, latencyMs: 50 } }]);
    const first = await get(pool, `http://${server.target}/`);
    const second = await get(pool, `http://${server.target}/`);
    // Handshake (2 x 50 ms) + request (50) + response (50).
    expect(first.totalSeconds).toBeGreaterThanOrEqual(0.195);
    expect(first.totalSeconds).toBeLessThan(0.35);
    expect(second.totalSeconds).toBeGreaterThanOrEqual(0.095);
    expect(second.totalSeconds).toBeLessThan(0.19);
  });

  it('connects to other targets directly, unshaped and uncounted', async () => {
    const shapedServer = await bulkServer(10);
    const other = await bulkServer(10);
    const { pool, shaped } = setup([{ name: 'registry', target: shapedServer.target, link: { bandwidthBps: 1e6, latencyMs: 200 } }]);
    const r = await get(pool, `http://${other.target}/`);
    expect(r.status).toBe(200);
    expect(r.totalSeconds).toBeLessThan(0.2);
    expect(shaped.stats().registry).toMatchObject({ connections: 0, bytesDown: 0 });
  });

  it('resets connections as the link faults say, as a socket error the client sees', async () => {
    const server = await bulkServer(512 * 1024);
    const { pool, shaped } = setup([
      { name: 'registry', target: server.target, link: { bandwidthBps: 1e9, latencyMs: 0, faults: { resetRate: 1, resetWithinBytes: 100_000, seed: 3 } } },
    ]);
    await expect(get(pool, `http://${server.target}/`)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(shaped.stats().registry).toMatchObject({ connections: 1, resets: 1, activeConnections: 0 });
  });

  it('reports a target that is down as the connection error a direct connection gives', async () => {
    const server = await bulkServer(10);
    const target = server.target;
    await new Promise((r) => servers.pop()!.close(r));
    const { pool, shaped } = setup([{ name: 'mirror', target, link: { bandwidthBps: 1e9, latencyMs: 5 } }]);
    await expect(pool.request(`http://${target}/v2/`, { method: 'GET', headers: {} })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(shaped.stats().mirror).toMatchObject({ connections: 1, activeConnections: 0 });
  });

  it('refuses a target that is not host:port', () => {
    expect(() => new ShapedRoutes([{ name: 'r', target: 'nohost', link: { bandwidthBps: 1e6, latencyMs: 0 } }])).toThrow(/host:port/);
  });

  it('closes its connections on close and opens none after', async () => {
    const server = await bulkServer(8 * 1024 * 1024);
    const { pool, shaped } = setup([{ name: 'registry', target: server.target, link: { bandwidthBps: 8e6, latencyMs: 0 } }]);
    const pending = get(pool, `http://${server.target}/`);
    await new Promise((r) => setTimeout(r, 100));
    shaped.close();
    await expect(pending).rejects.toThrow();
    expect(shaped.stats().registry!.activeConnections).toBe(0);
    expect(shaped.connect({ host: '127.0.0.1', port: Number(server.target.split(':')[1]) })).toBeUndefined();
  });
});

describe('an uplink shared across threads', () => {
  const mbit = (n: number): number => n * 1_000_000;
  const sink = (got: { n: number }) => ({ deliver: (c: Buffer) => void (got.n += c.length), end: () => undefined, writable: () => true });

  // Two copies of one uplink, as two worker threads hold them, over one shared count array.
  it('gives every busy link about the same share, whichever copy serves it', () => {
    const clock = new ManualClock();
    const got = Array.from({ length: 4 }, () => ({ n: 0 }));
    // An 80 Mbit/s uplink (10,000 bytes/ms); three links on copy a, one on copy b: each should get a quarter.
    const counts = new SharedArrayBuffer(2 * 4);
    const fa = new SharedUplink(mbit(80), { counts, slot: 0 });
    const fb = new SharedUplink(mbit(80), { counts, slot: 1 });
    const payload = Buffer.alloc(5_000_000);
    [fa, fa, fa, fb].forEach((uplink, i) => new Link({ bandwidthBps: mbit(100), latencyMs: 0 }, { clock, uplink }).openFlow('down', sink(got[i]!)).write(payload));
    clock.advanceSync(1000);
    const total = got.reduce((n, g) => n + g.n, 0);
    expect(total).toBeGreaterThan(0.93 * 10_000_000);
    expect(total).toBeLessThan(1.07 * 10_000_000);
    for (const g of got) expect(g.n / 2_500_000).toBeCloseTo(1, 1);
  });

  it('gives the whole uplink to one copy once the other has nothing to send', () => {
    const clock = new ManualClock();
    const counts = new SharedArrayBuffer(2 * 4);
    const a = new SharedUplink(mbit(8), { counts, slot: 0 });
    const b = new SharedUplink(mbit(8), { counts, slot: 1 });
    const ga = { n: 0 };
    const gb = { n: 0 };
    new Link({ bandwidthBps: mbit(100), latencyMs: 0 }, { clock, uplink: a }).openFlow('down', sink(ga)).write(Buffer.alloc(100_000));
    new Link({ bandwidthBps: mbit(100), latencyMs: 0 }, { clock, uplink: b }).openFlow('down', sink(gb)).write(Buffer.alloc(2_000_000));
    clock.advanceSync(1000);
    expect(ga.n).toBe(100_000);
    // a sent 100 kB at half the uplink (200 ms), then b had all of it: ~100 kB + 800 ms x 1000 bytes/ms.
    expect(gb.n).toBeGreaterThan(0.93 * 900_000);
    expect(new Int32Array(counts)[0]).toBe(0);
  });

  it('refuses a slot outside the count array', () => {
    expect(() => new SharedUplink(mbit(8), { counts: new SharedArrayBuffer(8), slot: 2 })).toThrow(/slot 2/);
  });
});
