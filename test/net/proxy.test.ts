import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { Link, SharedUplink, startShapedProxy, type StartedProxy } from '../../src/net/index.js';

const servers: Server[] = [];
const proxies: StartedProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(onConnection: (s: Socket) => void): Promise<string> {
  const server = createServer(onConnection);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** A server that sends `bytes` to every client as soon as it connects, then closes. */
const bulkServer = (bytes: number): Promise<string> => listen((s) => s.end(Buffer.alloc(bytes, 7)));

async function proxy(opts: Parameters<typeof startShapedProxy>[0]): Promise<StartedProxy> {
  const p = await startShapedProxy(opts);
  proxies.push(p);
  return p;
}

interface Download {
  bytes: number;
  /** From the first byte to the end: connection setup (slow on a busy machine) is not the link's doing. */
  seconds: number;
  /** Bytes that came with the first byte, which the timing above does not cover. */
  firstBytes: number;
  error?: string;
}

/** Connects and reads to the end (or to a reset). */
function download(host: string): Promise<Download> {
  const [h, port] = host.split(':') as [string, string];
  return new Promise((resolve) => {
    let bytes = 0;
    let firstBytes = 0;
    let t0 = 0;
    const s = createConnection({ host: h, port: Number(port) });
    s.on('data', (c: Buffer) => {
      if (bytes === 0) {
        t0 = performance.now();
        firstBytes = c.length;
      }
      bytes += c.length;
    });
    const seconds = (): number => (performance.now() - t0) / 1000;
    s.on('end', () => resolve({ seconds: seconds(), bytes, firstBytes }));
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ seconds: seconds(), bytes, firstBytes, error: err.code ?? 'error' }));
  });
}

/** Seconds the rest of a transfer should take after its first chunk. */
const idealRest = (r: Download, bps: number): number => ((r.bytes - r.firstBytes) * 8) / bps;

describe('a shaped TCP proxy', () => {
  it('delivers a multi-MB transfer within a few % of the configured bandwidth', async () => {
    const size = 4 * 1024 * 1024;
    const p = await proxy({ target: await bulkServer(size), link: { bandwidthBps: 40e6, latencyMs: 5 } });
    const r = await download(p.host);
    const ideal = idealRest(r, 40e6);
    expect(r.bytes).toBe(size);
    expect(r.seconds / ideal).toBeGreaterThan(0.97);
    expect(r.seconds / ideal).toBeLessThan(1.04);
    expect(p.stats()).toMatchObject({ connections: 1, bytesDown: size });
  });

  it('adds the one-way latency in each direction to a round trip', async () => {
    const echo = await listen((s) => s.pipe(s));
    const p = await proxy({ target: echo, link: { bandwidthBps: 100e6, latencyMs: 20 } });
    const [h, port] = p.host.split(':') as [string, string];
    const connectStart = performance.now();
    const s = createConnection({ host: h, port: Number(port) });
    s.write('x');
    await new Promise((r) => s.once('data', r));
    // The first exchange, timed from connect(), also paid the emulated TCP handshake.
    expect(performance.now() - connectStart).toBeGreaterThanOrEqual(80);
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      s.write('x');
      await new Promise((r) => s.once('data', r));
      rtts.push(performance.now() - t0);
    }
    s.destroy();
    const median = [...rtts].sort((a, b) => a - b)[2] as number;
    expect(median).toBeGreaterThanOrEqual(40);
    // 40 ms of link plus event-loop turns, which on a loaded 2-core machine can take several ms.
    expect(median).toBeLessThan(55);
  });

  it('gives two links sharing an uplink about half each', async () => {
    const size = 3 * 1024 * 1024;
    const target = await bulkServer(size);
    const uplink = new SharedUplink(40e6);
    const a = await proxy({ target, link: { bandwidthBps: 100e6, latencyMs: 2 }, uplink });
    const b = await proxy({ target, link: { bandwidthBps: 100e6, latencyMs: 2 }, uplink });
    const [ra, rb] = await Promise.all([download(a.host), download(b.host)]);
    const ideal = idealRest(ra, 40e6) + idealRest(rb, 40e6);
    expect(ra.bytes + rb.bytes).toBe(2 * size);
    expect(ra.seconds / rb.seconds).toBeGreaterThan(0.93);
    expect(ra.seconds / rb.seconds).toBeLessThan(1.07);
    expect(Math.max(ra.seconds, rb.seconds) / ideal).toBeGreaterThan(0.96);
    expect(Math.max(ra.seconds, rb.seconds) / ideal).toBeLessThan(1.06);
  });

  it('lets two proxies of one node share its link', async () => {
    const size = 1024 * 1024;
    const link = new Link({ bandwidthBps: 40e6, latencyMs: 1 });
    const a = await proxy({ target: await bulkServer(size), link });
    const b = await proxy({ target: await bulkServer(size), link });
    const [ra, rb] = await Promise.all([download(a.host), download(b.host)]);
    const ideal = idealRest(ra, 40e6) + idealRest(rb, 40e6);
    expect(Math.max(ra.seconds, rb.seconds) / ideal).toBeGreaterThan(0.96);
  });
});

describe('fault injection', () => {
  async function resetPattern(seed: number): Promise<{ errors: boolean[]; resets: number }> {
    const p = await proxy({
      target: await bulkServer(128 * 1024),
      link: { bandwidthBps: 1e9, latencyMs: 0, faults: { resetRate: 0.3, resetWithinBytes: 64 * 1024, seed } },
    });
    const errors: boolean[] = [];
    // One connection at a time, so that the order of connections (and so the faults) is fixed.
    for (let i = 0; i < 40; i++) {
      const r = await download(p.host);
      errors.push(r.error !== undefined);
      if (r.error === undefined) expect(r.bytes).toBe(128 * 1024);
    }
    return { errors, resets: p.stats().resets };
  }

  it('resets connections at the configured rate, the same ones for the same seed', async () => {
    const first = await resetPattern(42);
    const again = await resetPattern(42);
    const count = first.errors.filter(Boolean).length;
    expect(count).toBe(first.resets);
    expect(count).toBeGreaterThanOrEqual(5);
    expect(count).toBeLessThanOrEqual(20);
    expect(again.errors).toEqual(first.errors);
  });

  it('stalls a connection for the configured time', async () => {
    const p = await proxy({
      target: await bulkServer(128 * 1024),
      link: { bandwidthBps: 1e9, latencyMs: 0, faults: { stallRate: 1, stallMs: 300, resetWithinBytes: 64 * 1024 } },
    });
    const r = await download(p.host);
    expect(r.bytes).toBe(128 * 1024);
    expect(r.seconds).toBeGreaterThanOrEqual(0.29);
    expect(p.stats().stalls).toBe(1);
  });

  it('rejects a target that is not host:port', async () => {
    await expect(startShapedProxy({ target: 'nope', link: { bandwidthBps: 1, latencyMs: 0 } })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
