import { createHash } from 'node:crypto';
import { createServer, get, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { startShapedProxy, type StartedProxy } from '../../src/net/index.js';
import { registerLocalServer } from '../../src/net/local-servers.js';
import { startRegistryServer as startRegistry } from '../../src/registry/server.js';

// A shaped proxy whose target is an HTTP server of this thread hands the server its connections (shaped on the way)
// instead of relaying them through a second TCP connection: the same link, in both modes.

const servers: Server[] = [];
const proxies: StartedProxy[] = [];
const unregister: (() => void)[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  for (const u of unregister.splice(0)) u();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); })));
});

/** An HTTP server of this thread: GET /bulk/N answers N bytes; GET /port answers the peer port it sees. */
async function localHttp(register: boolean): Promise<string> {
  const server = createServer((req, res) => {
    const m = /^\/bulk\/(\d+)$/.exec(req.url ?? '');
    if (m) {
      res.setHeader('content-length', m[1]!);
      res.end(Buffer.alloc(Number(m[1]), 7));
      return;
    }
    res.end(String(req.socket.remotePort));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  if (register) unregister.push(registerLocalServer(host, server));
  return host;
}

async function proxy(opts: Parameters<typeof startShapedProxy>[0]): Promise<StartedProxy> {
  const p = await startShapedProxy(opts);
  proxies.push(p);
  return p;
}

interface Fetched {
  body: Buffer;
  localPort: number;
  /** From the first body byte to the end. */
  seconds: number;
  firstBytes: number;
  error?: string;
}

function fetchVia(host: string, path: string): Promise<Fetched> {
  const [hostname, port] = host.split(':') as [string, string];
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let t0 = 0;
    let firstBytes = 0;
    let localPort = 0;
    const req = get({ hostname, port: Number(port), path, agent: false }, (res) => {
      res.on('data', (c: Buffer) => {
        if (chunks.length === 0) {
          t0 = performance.now();
          firstBytes = c.length;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ body: Buffer.concat(chunks), localPort, seconds: (performance.now() - t0) / 1000, firstBytes }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ body: Buffer.concat(chunks), localPort, seconds: 0, firstBytes, error: err.code ?? 'error' }));
    });
    req.on('socket', (s) => s.on('connect', () => (localPort = s.localPort ?? 0)));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ body: Buffer.concat(chunks), localPort, seconds: 0, firstBytes, error: err.code ?? 'error' }));
  });
}

describe('a shaped proxy in front of a server of this thread', () => {
  it('hands the server the node\'s own connection: no relay hop (the server sees the client\'s port)', async () => {
    const local = await proxy({ target: await localHttp(true), link: { bandwidthBps: 1e9, latencyMs: 0 } });
    const r = await fetchVia(local.host, '/port');
    expect(Number(r.body.toString())).toBe(r.localPort);
    // The same server not registered (or relay: true) is reached through a second connection.
    const relayed = await proxy({ target: await localHttp(true), link: { bandwidthBps: 1e9, latencyMs: 0 }, relay: true });
    const rr = await fetchVia(relayed.host, '/port');
    expect(Number(rr.body.toString())).not.toBe(rr.localPort);
    expect(local.stats()).toMatchObject({ connections: 1 });
    expect(local.stats().bytesUp).toBeGreaterThan(0);
  });

  for (const mode of ['local', 'relay'] as const) {
    it(`${mode}: delivers at the configured bandwidth and counts the bytes`, async () => {
      const size = 4 * 1024 * 1024;
      const p = await proxy({ target: await localHttp(true), link: { bandwidthBps: 40e6, latencyMs: 5 }, relay: mode === 'relay' });
      const r = await fetchVia(p.host, `/bulk/${size}`);
      expect(r.body.length).toBe(size);
      const ideal = ((size - r.firstBytes) * 8) / 40e6;
      // Never faster than the link; the upper bound leaves room for a loaded machine's event-loop turns (the
      // shaper's own accuracy is held to a few % by test/net/proxy.test.ts and bench/shaping).
      expect(r.seconds / ideal).toBeGreaterThan(0.97);
      expect(r.seconds / ideal).toBeLessThan(1.15);
      // Headers and body went down the link.
      expect(p.stats().bytesDown).toBeGreaterThan(size);
    });

    it(`${mode}: a request pays the handshake and a round trip of latency`, async () => {
      const p = await proxy({ target: await localHttp(true), link: { bandwidthBps: 100e6, latencyMs: 20 }, relay: mode === 'relay' });
      const t0 = performance.now();
      const r = await fetchVia(p.host, '/port');
      expect(r.error).toBeUndefined();
      // Handshake (2 x 20 ms) before the request goes up, then up and down (2 x 20 ms).
      expect(performance.now() - t0).toBeGreaterThanOrEqual(79);
    });

    it(`${mode}: resets the same connections for the same seed`, async () => {
      const pattern = async (): Promise<boolean[]> => {
        const p = await proxy({
          target: await localHttp(true),
          link: { bandwidthBps: 1e9, latencyMs: 0, faults: { resetRate: 0.3, resetWithinBytes: 64 * 1024, seed: 42 } },
          relay: mode === 'relay',
        });
        const errors: boolean[] = [];
        for (let i = 0; i < 30; i++) {
          const r = await fetchVia(p.host, `/bulk/${128 * 1024}`);
          errors.push(r.error !== undefined);
          if (r.error === undefined) expect(r.body.length).toBe(128 * 1024);
        }
        expect(errors.filter(Boolean).length).toBe(p.stats().resets);
        return errors;
      };
      const first = await pattern();
      expect(first.filter(Boolean).length).toBeGreaterThanOrEqual(3);
      expect(await pattern()).toEqual(first);
    });

    it(`${mode}: stalls a connection for the configured time`, async () => {
      const p = await proxy({
        target: await localHttp(true),
        link: { bandwidthBps: 1e9, latencyMs: 0, faults: { stallRate: 1, stallMs: 300, resetWithinBytes: 64 * 1024 } },
        relay: mode === 'relay',
      });
      const r = await fetchVia(p.host, `/bulk/${128 * 1024}`);
      expect(r.body.length).toBe(128 * 1024);
      expect(r.seconds).toBeGreaterThanOrEqual(0.29);
      expect(p.stats().stalls).toBe(1);
    });
  }

  it('serves the embedded registry\'s blobs intact, and its close ends the proxied connections', async () => {
    const registry = await startRegistry({ storage: 'memory' });
    try {
      const blob = Buffer.alloc(3 * 1024 * 1024, 9);
      const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
      const up = await fetch(`${registry.url}/v2/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob });
      expect(up.status).toBe(201);
      const p = await proxy({ target: registry.host, link: { bandwidthBps: 2e9, latencyMs: 1 } });
      const r = await fetchVia(p.host, `/v2/app/blobs/${digest}`);
      expect(`sha256:${createHash('sha256').update(r.body).digest('hex')}`).toBe(digest);
      expect(Number((await fetchVia(p.host, '/v2/')).error === undefined)).toBe(1);
      expect(p.stats().connections).toBe(2);
    } finally {
      await registry.close();
    }
  });
});
