import { createServer, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpPool } from '../../../src/net/http-pool.js';
import { startShapedProxy, type StartedProxy } from '../../../src/net/proxy.js';
import { sendShaped } from '../../../src/net/shaped-response.js';
import { Link } from '../../../src/net/shaper.js';
import { ShapedRoutes } from '../../../src/net/shaped-socket.js';

// The peer links as PeerNetwork builds them: a node's upload is one shaped proxy in front of its agent (every
// connection to it shares it), a node's download one ShapedRoutes route for any peer ('*').
const BYTES = 1_000_000;
const MBIT = 1e6;
let server: Server;
let port: number;
const body = Buffer.alloc(BYTES, 7);

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': BYTES });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

// Timed from the request, not from the response's headers: a server that shapes its own writes sends its headers
// with the first shaped chunk, so timing from them left that chunk out (3-6% of a 1 MB body at these rates, and a
// best-of-4 picks the round that left out most: CI failed the 5% bound from below). The request's round trip adds
// about 2 ms to 1 s.
async function fetchAll(pool: HttpPool, url: string): Promise<number> {
  const started = performance.now();
  const res = await pool.request(url, { method: 'GET', headers: {} });
  let n = 0;
  for await (const c of res.body) n += (c as Buffer).length;
  expect(n).toBe(BYTES);
  return performance.now() - started;
}

describe('peer links', () => {
  it("share a node's upload between the peers it serves, each within 5% of its fair share", async () => {
    // Upload 16 Mbit, two downloaders at 100 Mbit each: each gets 8 Mbit, 1 MB in 1.0 s (first to last byte).
    const upload: StartedProxy = await startShapedProxy({ target: `127.0.0.1:${port}`, link: { bandwidthBps: 16 * MBIT, latencyMs: 0, handshake: false } });
    const downs = [0, 1].map(() => new ShapedRoutes([{ name: 'peers', target: '*', link: { bandwidthBps: 100 * MBIT, latencyMs: 1 } }]));
    const pools = downs.map((d) => new HttpPool({ connect: d.connect }));
    try {
      const best = [Infinity, Infinity];
      // Best of 4: a round that the test machine's scheduler delays is slower, never faster, than the link.
      for (let round = 0; round < 4; round++) {
        const times = await Promise.all(pools.map((p) => fetchAll(p, `${upload.url}/blob`)));
        times.forEach((t, i) => (best[i] = Math.min(best[i]!, t)));
      }
      const ideal = (BYTES * 8) / (8 * MBIT) * 1000;
      for (const t of best) expect(Math.abs(t / ideal - 1)).toBeLessThan(0.05);
      expect(downs.map((d) => d.stats().peers!.bytesDown).every((b) => b >= 4 * BYTES)).toBe(true);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
      downs.forEach((d) => d.close());
      await upload.close();
    }
  });

  it("share a node's upload shaped in the agent's own writes (piece mode, no proxy), each peer within 5% of its fair share", async () => {
    // As above, the upload link in the server itself: 16 Mbit, two downloaders at 100 Mbit: 1 MB each in 1.0 s.
    const link = new Link({ bandwidthBps: 16 * MBIT, latencyMs: 0, handshake: false });
    let sent = 0;
    const agent = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': BYTES });
      void sendShaped(link, res, body, (n) => (sent += n));
    });
    await new Promise<void>((r) => agent.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(agent.address() as { port: number }).port}/piece`;
    const downs = [0, 1].map(() => new ShapedRoutes([{ name: 'peers', target: '*', link: { bandwidthBps: 100 * MBIT, latencyMs: 1 } }]));
    const pools = downs.map((d) => new HttpPool({ connect: d.connect }));
    try {
      const best = [Infinity, Infinity];
      // Best of 4, as above.
      for (let round = 0; round < 4; round++) {
        const times = await Promise.all(pools.map((p) => fetchAll(p, url)));
        times.forEach((t, i) => (best[i] = Math.min(best[i]!, t)));
      }
      const ideal = (BYTES * 8) / (8 * MBIT) * 1000;
      for (const t of best) expect(Math.abs(t / ideal - 1)).toBeLessThan(0.05);
      expect(sent).toBe(8 * BYTES);
    } finally {
      await Promise.all(pools.map((p) => p.close()));
      downs.forEach((d) => d.close());
      await new Promise<void>((r) => agent.close(() => r()));
    }
  });

  it("hold a transfer to the downloader's share when its download is the slower side", async () => {
    const upload = await startShapedProxy({ target: `127.0.0.1:${port}`, link: { bandwidthBps: 100 * MBIT, latencyMs: 0, handshake: false } });
    const down = new ShapedRoutes([{ name: 'peers', target: '*', link: { bandwidthBps: 8 * MBIT, latencyMs: 1 } }]);
    const pool = new HttpPool({ connect: down.connect });
    try {
      let best = Infinity;
      // Best of 4, as above.
      for (let round = 0; round < 4; round++) best = Math.min(best, await fetchAll(pool, `${upload.url}/blob`));
      expect(Math.abs(best / 1000 - 1)).toBeLessThan(0.05);
    } finally {
      await pool.close();
      down.close();
      await upload.close();
    }
  });
});
