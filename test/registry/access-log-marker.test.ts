import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLogMarker } from '../../src/registry/stats.js';
import { freePort } from '../../src/util/ports.js';

// A registry stand-in that answers /v2/ and hands each request to `log` (its "log line", written or not).
async function registry(log: (req: IncomingMessage) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    res.end('{}');
    log(req);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('AccessLogMarker', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
  });

  it('resolves when the marked request\'s response completed line is seen, and sends the first user\'s credentials', async () => {
    const at: { marker?: AccessLogMarker } = {};
    const seen: IncomingMessage[] = [];
    const reg = await registry((req) => {
      seen.push(req);
      // With auth, docker-registry logs an `authorized request` line for it at once; that is not the one to wait for.
      at.marker!.seen(`level=info msg="authorized request" http.request.uri="${req.url}"`);
      // Its `response completed` line comes after the response.
      setTimeout(() => {
        completed = true;
        at.marker!.seen(`level=info msg="response completed" http.request.uri="${req.url}"`);
      }, 200);
    });
    open.push(reg);
    let completed = false;
    const marker = (at.marker = new AccessLogMarker(reg.url, { username: 'ann', password: 'pw-1' }));
    const t0 = performance.now();
    await marker.caughtUp(5000);
    expect(completed).toBe(true);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toMatch(/^\/v2\/\?pullbench-mark=[0-9a-f]{16}$/);
    expect(seen[0]!.headers.authorization).toBe(`Basic ${Buffer.from('ann:pw-1').toString('base64')}`);
  });

  it('ignores lines of other requests, and gives up after its timeout when the line never comes', async () => {
    const at: { marker?: AccessLogMarker } = {};
    const reg = await registry(() => at.marker!.seen('level=info msg="response completed" http.request.uri="/v2/"'));
    open.push(reg);
    const marker = (at.marker = new AccessLogMarker(reg.url));
    const t0 = performance.now();
    await marker.caughtUp(300);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('returns at once when nothing answers', async () => {
    const marker = new AccessLogMarker(`http://127.0.0.1:${await freePort()}`);
    const t0 = performance.now();
    await marker.caughtUp(3000);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
