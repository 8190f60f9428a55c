import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { buffer } from 'node:stream/consumers';
import { RegistryClient } from '../../src/oci/client.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { HttpPool } from '../../src/net/http-pool.js';
import { json, startFakeRegistry, type FakeRegistry } from './helpers/fake-registry.js';

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: {}, layers: [] }));
const blob = Buffer.alloc(200_000, 7);
const blobDigest = digestOf(blob);

// Answers like a registry: HEAD/GET manifests, GET blobs, 404 for anything else.
function registry(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  if (req.url?.includes('/manifests/')) {
    res.writeHead(200, { 'content-type': MediaType.OciManifest, 'content-length': manifest.length, 'docker-content-digest': digestOf(manifest) });
    res.end(req.method === 'HEAD' ? undefined : manifest);
  } else if (req.url?.endsWith(blobDigest)) {
    res.writeHead(200, { 'content-length': blob.length }).end(blob);
  } else {
    json(res, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'no such blob' }] });
  }
}

let fake: FakeRegistry | undefined;
afterEach(async () => {
  await fake?.[Symbol.asyncDispose]();
  fake = undefined;
});

describe('RegistryClient connections', () => {
  it('sends sequential requests over one kept-alive connection', async () => {
    fake = await startFakeRegistry(registry);
    await using client = new RegistryClient({ baseUrl: fake.url });
    for (let i = 0; i < 5; i++) {
      await client.resolve('app', 'v1');
      await client.getManifest('app', 'v1');
      expect(await buffer((await client.getBlob('app', blobDigest)).body)).toHaveLength(blob.length);
      await client.headBlob('app', blobDigest);
    }
    // A 404 with a small error body does not cost the connection either.
    await expect(client.getBlob('app', digestOf(Buffer.from('x')))).rejects.toMatchObject({ code: 'BLOB_UNKNOWN' });
    await client.resolve('app', 'v1');
    expect(fake.requests).toHaveLength(22);
    expect(fake.connections).toBe(1);
  });

  it('opens one connection per concurrent request and keeps at most two idle', async () => {
    fake = await startFakeRegistry(registry);
    const pool = new HttpPool();
    const client = new RegistryClient({ baseUrl: fake.url, transport: pool });
    const pullAll = (): Promise<Buffer[]> => Promise.all([1, 2, 3].map(async () => buffer((await client.getBlob('app', blobDigest)).body)));
    await pullAll();
    expect(fake.connections).toBe(3);
    // Go's DefaultMaxIdleConnsPerHost (2): the third connection was closed, so the next round opens one.
    await pullAll();
    expect(fake.connections).toBe(4);
    expect(pool.stats()).toEqual({ connections: 4, requests: 6 });
    await pool.close();
  });

  it('closes its connections when disposed, so the server sees none left open', async () => {
    let open = 0;
    const server: Server = createServer(registry);
    server.on('connection', (socket) => {
      open++;
      socket.on('close', () => open--);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const client = new RegistryClient({ baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}` });
      await client.resolve('app', 'v1');
      await buffer((await client.getBlob('app', blobDigest)).body);
      expect(open).toBe(1);
      await client.close();
      await expect.poll(() => open).toBe(0);
      await expect(client.resolve('app', 'v1')).rejects.toMatchObject({ code: 'REGISTRY_UNREACHABLE' });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('retries a GET once on a new connection when the server closed the idle one', async () => {
    // The server drops a kept-alive connection as the second request arrives on it, without an
    // answer: the race Go's transport (and ours) retries for idempotent requests.
    const served = new Map<import('node:net').Socket, number>();
    let dropped = 0;
    fake = await startFakeRegistry((req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (n === 2 && dropped === 0) {
        dropped++;
        req.socket.destroy();
        return;
      }
      registry(req, res);
    });
    await using client = new RegistryClient({ baseUrl: fake.url });
    await client.getManifest('app', 'v1');
    const again = await client.getManifest('app', 'v1');
    expect(again.bytes.equals(manifest)).toBe(true);
    expect(dropped).toBe(1);
    expect(fake.connections).toBe(2);
  });

  it('follows a blob redirect to another origin without the Authorization header', async () => {
    const storage = await startFakeRegistry((_req, res) => res.writeHead(200, { 'content-length': blob.length }).end(blob));
    try {
      fake = await startFakeRegistry((req, res) => {
        if (!req.headers.authorization) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="x"', 'content-length': 0 }).end();
        res.writeHead(307, { location: `${storage.url}/blob-data`, 'content-length': 0 }).end();
      });
      await using client = new RegistryClient({ baseUrl: fake.url, credentials: { username: 'u', password: 'p-secret-1' } });
      expect(await buffer((await client.getBlob('app', blobDigest)).body)).toEqual(blob);
      expect(storage.requests).toEqual([expect.objectContaining({ method: 'GET', url: '/blob-data', authorization: undefined })]);
    } finally {
      await storage[Symbol.asyncDispose]();
    }
  });
});

describe('a blob body and its connection', () => {
  it('fails the body when the registry hangs up part-way, instead of ending it short or hanging', async () => {
    fake = await startFakeRegistry((req, res) => {
      res.writeHead(200, { 'content-length': blob.length });
      res.write(blob.subarray(0, 50_000), () => res.socket?.destroy());
    });
    await using client = new RegistryClient({ baseUrl: fake.url });
    const { body } = await client.getBlob('app', blobDigest);
    const err = await buffer(body).then(() => undefined, (e: NodeJS.ErrnoException) => e);
    expect(err).toBeInstanceOf(Error);
    expect(['ECONNRESET', 'ERR_STREAM_PREMATURE_CLOSE', 'SIZE_MISMATCH']).toContain(err?.code);
  });

  it('gives the connection up when the consumer destroys the body', async () => {
    let closed = false;
    fake = await startFakeRegistry((req, res) => {
      res.socket?.on('close', () => (closed = true));
      res.writeHead(200, { 'content-length': 50_000_000 });
      res.write(blob);
    });
    await using client = new RegistryClient({ baseUrl: fake.url });
    const { body } = await client.getBlob('app', blobDigest);
    await new Promise<void>((r) => body.once('data', () => r()));
    body.destroy();
    for (let i = 0; i < 100 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(true);
  });
});
