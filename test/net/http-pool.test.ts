import { describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { buffer } from 'node:stream/consumers';
import { HttpPool } from '../../src/net/http-pool.js';

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server } & AsyncDisposable> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    server,
    [Symbol.asyncDispose]: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('HttpPool', () => {
  it('closes idle connections after the idle timeout, but never cuts a body that is slow to arrive', async () => {
    await using srv = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': 6 });
      res.write('abc');
      setTimeout(() => res.end('def'), 400);
    });
    let open = 0;
    srv.server.on('connection', (s) => {
      open++;
      s.on('close', () => open--);
    });
    await using pool = new HttpPool({ idleTimeoutMs: 150 });
    const res = await pool.request(srv.url, { method: 'GET', headers: {} });
    expect((await buffer(res.body)).toString()).toBe('abcdef');
    expect(open).toBe(1);
    await expect.poll(() => open, { timeout: 2000 }).toBe(0);
  });

  it('aborts a request still waiting for headers when its signal fires', async () => {
    await using srv = await serve(() => undefined);
    await using pool = new HttpPool();
    const controller = new AbortController();
    const pending = pool.request(srv.url, { method: 'GET', headers: {}, signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toThrow(/aborted/);
  });

  it('refuses requests once closed', async () => {
    const pool = new HttpPool();
    await pool.close();
    await expect(pool.request('http://127.0.0.1:1/', { method: 'GET', headers: {} })).rejects.toThrow(/closed/);
  });
});
