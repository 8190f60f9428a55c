import { createServer, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { shapedFetch } from '../../src/net/index.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function bulk(bytes: number): Promise<string> {
  const server = createServer((req, res) => {
    res.setHeader('x-path', req.url ?? '');
    res.end(Buffer.alloc(bytes, 1));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

describe('shapedFetch', () => {
  it('sends http requests through a shaped link to the same path', async () => {
    const url = await bulk(1024 * 1024);
    await using f = shapedFetch({ bandwidthBps: 20e6, latencyMs: 10 });
    const t0 = performance.now();
    const res = await f(`${url}/v2/some/path?x=1`);
    const body = Buffer.from(await res.arrayBuffer());
    const seconds = (performance.now() - t0) / 1000;
    expect(res.headers.get('x-path')).toBe('/v2/some/path?x=1');
    expect(body.length).toBe(1024 * 1024);
    // 1 MiB at 20 Mbit/s is 0.42 s, plus the handshake and request round trips.
    expect(seconds).toBeGreaterThanOrEqual((1024 * 1024 * 8) / 20e6 + 0.04);
  });

  it('shares one link between origins', async () => {
    const a = await bulk(512 * 1024);
    const b = await bulk(512 * 1024);
    await using f = shapedFetch({ bandwidthBps: 20e6, latencyMs: 1 });
    const t0 = performance.now();
    await Promise.all([f(a).then((r) => r.arrayBuffer()), f(b).then((r) => r.arrayBuffer())]);
    expect((performance.now() - t0) / 1000).toBeGreaterThanOrEqual((1024 * 1024 * 8) / 20e6);
  });
});
