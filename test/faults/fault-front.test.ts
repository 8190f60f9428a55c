import { createServer, request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultFront } from '../../src/net/fault-front.js';
import { RegistryClient } from '../../src/oci/client.js';
import { digestOf } from '../../src/oci/digest.js';

// A plain origin: 100 kB bodies, and a 401 with a token realm on itself.
const BODY = Buffer.alloc(100_000, 7);
const origin = createServer((req, res) => {
  if (req.url === '/v2/') {
    res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${(origin.address() as { port: number }).port}/token",service="r"` });
    res.end();
    return;
  }
  res.writeHead(200, { 'content-length': BODY.length });
  res.end(BODY);
});
let target = '';
beforeAll(async () => {
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  target = `127.0.0.1:${(origin.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => origin.close(() => r())));

// status 0: no response started. A response cut after its headers keeps its status: Node >= 24 reports the reset on
// the request as well as on the response (the request's 'error' comes first there), Node 20 on the response only.
const get = (url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number; headers: Record<string, unknown>; error?: string }> =>
  new Promise((resolve) => {
    let bytes = 0;
    let status = 0;
    let got: Record<string, unknown> = {};
    const finish = (e?: Error): void => resolve({ status, bytes, headers: got, ...(e ? { error: (e as NodeJS.ErrnoException).code ?? e.message } : {}) });
    const req = request(url, { headers, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      got = res.headers;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => finish());
      res.on('error', finish);
    });
    req.on('error', finish);
    req.end();
  });

async function drain(body: NodeJS.ReadableStream): Promise<{ bytes: number; error?: string }> {
  let bytes = 0;
  try {
    for await (const c of body) bytes += (c as Buffer).length;
    return { bytes };
  } catch (e) {
    return { bytes, error: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  }
}

describe('the fault front', () => {
  it('forwards untouched until armed and outside its windows, and rewrites a token realm to itself', async () => {
    await using front = await startFaultFront({ target, steady: { errorRate: 1 } });
    expect(await get(`${front.url}/v2/x/blobs/a`)).toMatchObject({ status: 200, bytes: BODY.length });
    const challenge = (await get(`${front.url}/v2/`)).headers['www-authenticate'];
    expect(challenge).toBe(`Bearer realm="${front.url}/token",service="r"`);
    front.arm();
    expect(await get(`${front.url}/v2/x/blobs/a`)).toMatchObject({ status: 503 });
    expect(front.stats()).toEqual({ forwarded: 2, faulted: { errorRate: 1 } });
  });

  it('answers a status inside its window, with an OCI error body', async () => {
    await using front = await startFaultFront({ target });
    front.add({ kind: 429, startAt: Date.now() - 1, endAt: Date.now() + 60_000 });
    front.add({ kind: 503, startAt: Date.now() + 60_000, endAt: Date.now() + 120_000 });
    const res = await get(`${front.url}/v2/x/manifests/v1`);
    expect(res).toMatchObject({ status: 429, headers: { 'retry-after': '10' } });
  });

  it('resets a body half way: the response starts (headers, part of the body), then the connection is reset', async () => {
    await using front = await startFaultFront({ target });
    front.add({ kind: 'reset', startAt: Date.now() - 1, endAt: Date.now() + 60_000 });
    const res = await get(`${front.url}/v2/x/blobs/a`);
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(BODY.length));
    expect(res.error).toMatch(/ECONNRESET|aborted/);
    expect(res.bytes).toBeGreaterThan(0);
    expect(res.bytes).toBeLessThanOrEqual(BODY.length / 2 + 1);
    expect(front.stats().faulted).toEqual({ reset: 1 });
  });

  it("cuts a blob our registry client reads: the blob's response is there, its body fails part way", async () => {
    await using front = await startFaultFront({ target });
    front.add({ kind: 'reset', startAt: Date.now() - 1, endAt: Date.now() + 60_000 });
    const client = new RegistryClient({ baseUrl: front.url });
    try {
      const blob = await client.getBlob('x', digestOf(BODY));
      expect(blob.size).toBe(BODY.length);
      const read = await drain(blob.body);
      expect(read.error).toMatch(/ECONNRESET|aborted|terminated/);
      expect(read.bytes).toBeLessThanOrEqual(BODY.length / 2 + 1);
    } finally {
      await client.close();
    }
  });

  it('delivers a whole body with flipped bits while it corrupts, and the same body intact after the window', async () => {
    await using front = await startFaultFront({ target });
    const body = (): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        request(`${front.url}/v2/x/blobs/a`, { agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        }).end();
      });
    front.add({ kind: 'corrupt', startAt: Date.now() - 1, endAt: Date.now() + 300 });
    const bad = await body();
    expect(bad.length).toBe(BODY.length);
    expect(bad.equals(BODY)).toBe(false);
    expect(front.stats().faulted).toEqual({ corrupt: 1 });
    await new Promise((r) => setTimeout(r, 400));
    expect((await body()).equals(BODY)).toBe(true);
  });

  it('refuses connections for its window, then listens again', async () => {
    await using front = await startFaultFront({ target });
    front.add({ kind: 'refuse', startAt: Date.now(), endAt: Date.now() + 400 });
    await new Promise((r) => setTimeout(r, 100));
    const refused = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: Number(front.host.split(':')[1]) });
      s.on('connect', () => resolve('connected'));
      s.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? ''));
    });
    expect(refused).toBe('ECONNREFUSED');
    await new Promise((r) => setTimeout(r, 500));
    expect(await get(`${front.url}/v2/x/blobs/a`)).toMatchObject({ status: 200, bytes: BODY.length });
  });

  it('listens again after a refusal even when its end timer fires before the wall clock reaches the end', async () => {
    // The clock falls 5 ms behind the timers once the window is set: its end timer fires while the window still
    // reads as active, as a timer that fires a millisecond early does. The front used to stay closed for good then.
    let lag = 0;
    const now = (): number => Date.now() - lag;
    await using front = await startFaultFront({ target, now });
    front.add({ kind: 'refuse', startAt: now(), endAt: now() + 100 });
    lag = 5;
    await new Promise((r) => setTimeout(r, 300));
    expect(await get(`${front.url}/v2/x/blobs/a`)).toMatchObject({ status: 200, bytes: BODY.length });
  });

  it('holds a request through a stall and answers it when the window closes', async () => {
    await using front = await startFaultFront({ target });
    const start = Date.now();
    front.add({ kind: 'stall', startAt: start, endAt: start + 700 });
    expect(await get(`${front.url}/v2/x/blobs/a`)).toMatchObject({ status: 200, bytes: BODY.length });
    expect(Date.now() - start).toBeGreaterThanOrEqual(650);
  });

  it('meets credentials with 401 while they are expired, and anonymous requests not', async () => {
    await using front = await startFaultFront({ target });
    front.add({ kind: 'credentials-expire', startAt: Date.now() - 1, endAt: Date.now() + 60_000 });
    expect((await get(`${front.url}/v2/x/blobs/a`, { authorization: 'Bearer t' })).status).toBe(401);
    expect((await get(`${front.url}/token?scope=repository:x:pull&service=r`)).status).toBe(401);
    expect((await get(`${front.url}/v2/x/blobs/a`)).status).toBe(200);
  });
});
