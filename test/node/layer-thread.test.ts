import { createHash, randomBytes } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PullbenchError } from '../../src/errors.js';
import { HttpPool } from '../../src/net/http-pool.js';
import { RegistryClient } from '../../src/oci/client.js';
import { LayerThread, fromPlain, plainError } from '../../src/node/runtimes/layer-thread.js';
import { makeTempDir, type TempDir } from '../../src/util/temp.js';
import { tarWithFile } from './helpers/images.js';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  port: number;
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, port: req.socket.remotePort! });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

describe('the layer thread', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  const setup = async (handler: (req: IncomingMessage, res: ServerResponse) => void, maxThreads?: number) => {
    const server = await serve(handler);
    const dir: TempDir = await makeTempDir('pblayer-');
    const thread = new LayerThread(maxThreads);
    const local = new HttpPool();
    const transport = thread.transport(local);
    cleanup.push(() => dir.remove(), () => new Promise((r) => server.server.close(r)), () => thread.close(), () => transport.close());
    return { ...server, dir, thread, local, transport };
  };

  it('saves a verified blob over its own connections, and sends other requests through the local pool', async () => {
    // Random bytes: a write at the wrong offset would not go unseen.
    const blob = randomBytes(3 * 1024 * 1024 + 17);
    const { url, seen, dir, transport, local } = await setup((req, res) => {
      res.writeHead(200, { 'content-length': String(blob.length), 'docker-content-digest': sha256(blob) });
      res.end(blob);
    });
    const path = join(dir.path, 'blob');
    const partial = `${path}.partial`;
    const res = await transport.request(`${url}/v2/a/blobs/${sha256(blob)}`, {
      method: 'GET',
      headers: { authorization: 'Bearer t' },
      saveTo: { digest: sha256(blob), partial, path },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('Docker-Content-Digest')).toBe(sha256(blob));
    expect(await res.saved).toBe(blob.length);
    expect((await readFile(path)).equals(blob)).toBe(true);
    expect(await exists(partial)).toBe(false);
    expect(local.stats().requests).toBe(0);

    const manifest = await transport.request(`${url}/v2/a/manifests/v1`, { method: 'GET', headers: {} });
    expect(manifest.saved).toBeUndefined();
    expect((await manifest.body.toArray()).length).toBeGreaterThan(0);
    expect(local.stats().requests).toBe(1);
    expect(seen.map((s) => [s.method, s.url, s.authorization])).toEqual([
      ['GET', `/v2/a/blobs/${sha256(blob)}`, 'Bearer t'],
      ['GET', '/v2/a/manifests/v1', undefined],
    ]);
    // Two connections: the layer thread's and the local pool's.
    expect(seen[0]!.port).not.toBe(seen[1]!.port);
  });

  it('spreads downloads under way over up to maxThreads threads, gives the next to an idle one, and closes every thread\'s connections with the transport', async () => {
    const blob = Buffer.alloc(300_000, 5);
    const held: ServerResponse[] = [];
    const { url, dir, thread, transport, server } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.write(blob.subarray(0, 1000));
      held.push(res);
    }, 3);
    const saveTo = (i: number) => ({ digest: sha256(blob), partial: join(dir.path, `${i}.partial`), path: join(dir.path, `${i}`) });
    expect(thread.liveThreads).toBe(1);
    const first = await Promise.all([0, 1, 2, 3].map((i) => transport.request(`${url}/b${i}`, { method: 'GET', headers: {}, saveTo: saveTo(i) })));
    // Three threads at most, one download each, and the fourth shares one.
    const threads = (thread as unknown as { threads: { load: number; worker: Worker }[] }).threads;
    expect(thread.liveThreads).toBe(3);
    expect(threads.map((t) => t.load).sort()).toEqual([1, 1, 2]);
    for (const res of held.splice(0)) res.end(blob.subarray(1000));
    expect(await Promise.all(first.map((r) => r.saved))).toEqual([blob.length, blob.length, blob.length, blob.length]);
    // Every thread is idle now: the next download starts none.
    const next = await transport.request(`${url}/c`, { method: 'GET', headers: {}, saveTo: saveTo(9) });
    held.splice(0).forEach((res) => res.end(blob.subarray(1000)));
    expect(await next.saved).toBe(blob.length);
    expect(thread.liveThreads).toBe(3);
    const open = (): Promise<number> => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    expect(await open()).toBeGreaterThanOrEqual(3);
    await transport.close();
    await expect.poll(open).toBe(0);
    // close() ends every thread.
    const workers = threads.map((t) => t.worker);
    await thread.close();
    expect(workers.map((w) => w.threadId)).toEqual([-1, -1, -1]);
  });

  it('keeps to one thread when maxThreads is 1 (the default)', async () => {
    const blob = Buffer.alloc(1000, 6);
    const held: ServerResponse[] = [];
    const { url, dir, thread, transport } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.write(blob.subarray(0, 10));
      held.push(res);
    });
    const all = await Promise.all([0, 1, 2].map((i) => transport.request(`${url}/b${i}`, { method: 'GET', headers: {}, saveTo: { digest: sha256(blob), partial: join(dir.path, `${i}.p`), path: join(dir.path, `${i}`) } })));
    expect(thread.liveThreads).toBe(1);
    for (const res of held.splice(0)) res.end(blob.subarray(10));
    expect(await Promise.all(all.map((r) => r.saved))).toEqual([1000, 1000, 1000]);
  });

  it('rejects a blob that is not its digest with DIGEST_MISMATCH, says how much arrived, and puts nothing at the path', async () => {
    const blob = Buffer.alloc(200_000, 1);
    const { url, dir, transport } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.end(blob);
    });
    const path = join(dir.path, 'blob');
    const wrong = sha256(Buffer.from('something else'));
    const res = await transport.request(`${url}/v2/a/blobs/${wrong}`, { method: 'GET', headers: {}, saveTo: { digest: wrong, partial: `${path}.partial`, path } });
    expect(res.status).toBe(200);
    const err = await res.saved!.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PullbenchError);
    expect(err).toMatchObject({ code: 'DIGEST_MISMATCH', details: { expected: wrong, actual: sha256(blob) }, bytesReceived: blob.length });
    expect(await exists(path)).toBe(false);
  });

  it('fails a download whose file write fails (a full disk) with the write\'s error, and puts nothing at the path', async () => {
    const blob = randomBytes(2 * 1024 * 1024);
    const { url, dir, transport } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.end(blob);
    });
    const path = join(dir.path, 'blob');
    const res = await transport.request(`${url}/v2/a/blobs/${sha256(blob)}`, { method: 'GET', headers: {}, saveTo: { digest: sha256(blob), partial: '/dev/full', path } });
    expect(res.status).toBe(200);
    await expect(res.saved).rejects.toMatchObject({ code: 'ENOSPC', syscall: 'write' });
    expect(await exists(path)).toBe(false);
  });

  it('rejects a body cut short with the connection error and the bytes that had arrived', async () => {
    const blob = Buffer.alloc(500_000, 2);
    const { url, dir, transport } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.length) });
      res.write(blob.subarray(0, 100_000), () => setTimeout(() => res.destroy(), 50));
    });
    const path = join(dir.path, 'blob');
    const res = await transport.request(`${url}/b`, { method: 'GET', headers: {}, saveTo: { digest: sha256(blob), partial: `${path}.partial`, path } });
    await expect(res.saved).rejects.toMatchObject({ code: 'ECONNRESET', bytesReceived: 100_000 });
    expect(await exists(path)).toBe(false);
  });

  it('goes through a Bearer challenge and a redirect with RegistryClient, and saves what the redirect serves', async () => {
    const blob = Buffer.alloc(300_000, 5);
    const digest = sha256(blob);
    const { url, seen, dir, transport } = await setup((req, res) => {
      if (req.url!.startsWith('/token')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ token: 'tok' }));
      } else if (req.url!.startsWith('/storage/')) {
        res.writeHead(200, { 'content-length': String(blob.length) });
        res.end(blob);
      } else if (req.headers.authorization !== 'Bearer tok') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${url}/token",service="reg"`, 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      } else {
        res.writeHead(307, { location: '/storage/blob' });
        res.end();
      }
    });
    const client = new RegistryClient({ baseUrl: url, transport });
    const path = join(dir.path, 'blob');
    const got = await client.getBlob('lib/a', digest, { saveTo: { partial: `${path}.partial`, path } });
    expect(await got.saved).toBe(blob.length);
    expect((await readFile(path)).equals(blob)).toBe(true);
    expect(seen.map((s) => [s.url.replace(/\?.*/, ''), s.authorization ?? null])).toEqual([
      [`/v2/lib/a/blobs/${digest}`, null],
      ['/token', null],
      [`/v2/lib/a/blobs/${digest}`, 'Bearer tok'],
      ['/storage/blob', 'Bearer tok'],
    ]);
  });

  it('ends the read of a response it does not save when the caller gives up waiting', async () => {
    const controller = new AbortController();
    const { url, dir, transport } = await setup((_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' });
      // The rest never comes; the caller's timeout fires once the headers have gone.
      res.write('{"errors":', () => setTimeout(() => controller.abort(), 100));
    });
    const saveTo = { digest: sha256(Buffer.from('x')), partial: join(dir.path, 'p'), path: join(dir.path, 'b') };
    const res = await transport.request(`${url}/b`, { method: 'GET', headers: {}, saveTo, signal: controller.signal });
    expect(res.status).toBe(401);
    expect(Buffer.concat(await res.body.toArray()).toString()).toBe('{"errors":');
  });

  it('closes while a download stalls: the download fails, and nothing starts afterwards', async () => {
    const { url, dir, thread, transport } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('x'.repeat(10));
    });
    const path = join(dir.path, 'blob');
    const res = await transport.request(`${url}/b`, { method: 'GET', headers: {}, saveTo: { digest: sha256(Buffer.alloc(1000)), partial: `${path}.partial`, path } });
    // A grace far beyond the test's timeout: close() must end the download, not wait it out.
    await thread.close(60_000);
    await expect(res.saved).rejects.toMatchObject({ code: 'ECONNABORTED' });
    await expect(thread.apply(path, `${path}.snapshot`, 'application/vnd.oci.image.layer.v1.tar+gzip')).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'the embedded runtime is closed',
    });
  });

  it('hands back a response it does not save (a challenge, an error) with its status, headers and body', async () => {
    const { url, dir, transport } = await setup((_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://x/token",service="r"', 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
    });
    const path = join(dir.path, 'blob');
    const res = await transport.request(`${url}/b`, { method: 'GET', headers: {}, saveTo: { digest: sha256(Buffer.from('x')), partial: `${path}.partial`, path } });
    expect(res.status).toBe(401);
    expect(res.saved).toBeUndefined();
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="http://x/token",service="r"');
    expect(Buffer.concat(await res.body.toArray()).toString()).toBe('{"errors":[{"code":"UNAUTHORIZED"}]}');
    expect(await exists(`${path}.partial`)).toBe(false);
  });

  it('fails a request it cannot send with the socket error, and one aborted while waiting for headers', async () => {
    const { url, dir, transport, server } = await setup(() => {
      /* never answers */
    });
    const saveTo = { digest: sha256(Buffer.from('x')), partial: join(dir.path, 'p'), path: join(dir.path, 'b') };
    const controller = new AbortController();
    const hung = transport.request(`${url}/b`, { method: 'GET', headers: {}, saveTo, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(hung).rejects.toThrow(/aborted/);
    server.closeAllConnections();
    const closed = await serve(() => undefined);
    await new Promise((r) => closed.server.close(r));
    await expect(transport.request(`${closed.url}/b`, { method: 'GET', headers: {}, saveTo })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('applies a stored layer to its snapshot and gives its diff id; a failed write keeps its code', async () => {
    const { dir, thread } = await setup(() => undefined);
    const tar = tarWithFile('x.bin', 2 * 1024 * 1024);
    const blob = join(dir.path, 'layer');
    await writeFile(blob, gzipSync(tar, { level: 1 }));
    const media = 'application/vnd.oci.image.layer.v1.tar+gzip';
    expect(await thread.apply(blob, join(dir.path, 'snapshot'), media)).toBe(sha256(tar));
    expect((await readFile(join(dir.path, 'snapshot'))).equals(tar)).toBe(true);
    await expect(thread.apply(blob, '/dev/full', media)).rejects.toMatchObject({ code: 'ENOSPC', syscall: 'write' });
  });

  it('lets an apply under way finish before it closes', async () => {
    const { dir, thread } = await setup(() => undefined);
    const tar = tarWithFile('z.bin', 16 * 1024 * 1024);
    const blob = join(dir.path, 'layer');
    await writeFile(blob, gzipSync(tar, { level: 1 }));
    const applied = thread.apply(blob, join(dir.path, 'snapshot'), 'application/vnd.oci.image.layer.v1.tar+gzip');
    await thread.close();
    expect(await applied).toBe(sha256(tar));
    expect((await readFile(join(dir.path, 'snapshot'))).equals(tar)).toBe(true);
  });

  it('fails the work of a thread that died, and starts another for the next download and apply', async () => {
    let calls = 0;
    const { url, dir, thread, transport } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      if (calls++ === 0) res.write('12345');
      else res.end('1234567890');
    });
    const path = join(dir.path, 'blob');
    const saveTo = { digest: sha256(Buffer.from('1234567890')), partial: `${path}.partial`, path };
    // The job's shared count of bytes received, as the runtime's side of it reads it once the thread is gone.
    const worker = (thread as unknown as { threads: { worker: Worker }[] }).threads[0]!.worker;
    let progress: SharedArrayBuffer | undefined;
    const post = worker.postMessage.bind(worker);
    worker.postMessage = (job: { progress?: SharedArrayBuffer }) => {
      progress ??= job.progress;
      post(job);
    };
    const res = await transport.request(`${url}/b`, { method: 'GET', headers: {}, saveTo });
    await vi.waitFor(() => expect(Atomics.load(new BigUint64Array(progress!), 0)).toBe(5n));
    await worker.terminate();
    // What had arrived is still counted (the runtime adds it to the bytes downloaded), though the thread is gone.
    await expect(res.saved).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/layer thread exited/), bytesReceived: 5 });
    // The same transport (the same pull phase) goes on in the new thread.
    const again = await transport.request(`${url}/b`, { method: 'GET', headers: {}, saveTo });
    expect(await again.saved).toBe(10);
    const tar = tarWithFile('y.bin', 1000);
    const blob = join(dir.path, 'layer');
    await writeFile(blob, gzipSync(tar));
    expect(await thread.apply(blob, join(dir.path, 'snapshot'), 'application/vnd.oci.image.layer.v1.tar+gzip')).toBe(sha256(tar));
  });

  it('carries errors across the thread as callers read them', () => {
    const fsError = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    expect(fromPlain(plainError(fsError))).toMatchObject({ message: fsError.message, code: 'ENOSPC', errno: -28, syscall: 'write' });
    const ours = fromPlain(plainError(new PullbenchError('SIZE_MISMATCH', 'too long', { details: { expected: 1, actual: 2 } })));
    expect(ours).toBeInstanceOf(PullbenchError);
    expect(ours).toMatchObject({ code: 'SIZE_MISMATCH', message: 'too long', details: { expected: 1, actual: 2 } });
    // Details that cannot be cloned (a function) still cross, as JSON.
    expect(fromPlain(plainError(new PullbenchError('INTERNAL', 'x', { details: { f: () => 1, n: 3 } })))).toMatchObject({ details: { n: 3 } });
  });

  describe('when a blob download is cut short', () => {
    const blob = randomBytes(2 * 1024 * 1024 + 33);
    // A registry whose answers end early: `cuts[i]` is how many body bytes the i-th request gets before the server
    // closes the connection cleanly (undefined: the whole rest). Ranges are honoured unless `ignoreRange`.
    const cutting = (cuts: (number | undefined)[], ignoreRange = false) => {
      const ranges: (string | undefined)[] = [];
      const handler = (req: IncomingMessage, res: ServerResponse): void => {
        const i = ranges.length;
        ranges.push(req.headers.range);
        const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
        const from = m && !ignoreRange ? Number(m[1]) : 0;
        const rest = blob.subarray(from);
        res.writeHead(from > 0 ? 206 : 200, {
          'content-length': String(rest.length),
          ...(from > 0 ? { 'content-range': `bytes ${from}-${blob.length - 1}/${blob.length}` } : {}),
        });
        const cut = cuts[i];
        if (cut === undefined) res.end(rest);
        else res.write(rest.subarray(0, cut), () => res.socket!.end());
      };
      return { ranges, handler };
    };
    const fetchBlob = async (transport: Awaited<ReturnType<typeof setup>>['transport'], url: string, dir: TempDir) => {
      const path = join(dir.path, 'blob');
      const res = await transport.request(`${url}/v2/a/blobs/${sha256(blob)}`, { method: 'GET', headers: {}, saveTo: { digest: sha256(blob), partial: `${path}.partial`, path } });
      return { saved: res.saved!, path };
    };

    it('asks again with a Range at the received offset and keeps what it had, as containerd\'s httpReadSeeker', async () => {
      const { ranges, handler } = cutting([1_000_003, 500_000]);
      const { url, dir, transport } = await setup(handler);
      const { saved, path } = await fetchBlob(transport, url, dir);
      expect(await saved).toBe(blob.length);
      expect((await readFile(path)).equals(blob)).toBe(true);
      expect(ranges).toEqual([undefined, 'bytes=1000003-', 'bytes=1500003-']);
    });

    it('drops the bytes before the offset when the registry ignores Range and sends the whole blob', async () => {
      const { ranges, handler } = cutting([700_000], true);
      const { url, dir, transport } = await setup(handler);
      const { saved, path } = await fetchBlob(transport, url, dir);
      expect(await saved).toBe(blob.length);
      expect((await readFile(path)).equals(blob)).toBe(true);
      expect(ranges).toEqual([undefined, 'bytes=700000-']);
    });

    it('gives up after three resumes in a row that bring no byte', async () => {
      const { ranges, handler } = cutting([1000, 0, 0, 0, 0, 0]);
      const { url, dir, transport } = await setup(handler);
      const { saved, path } = await fetchBlob(transport, url, dir);
      await expect(saved).rejects.toThrow(/closed before the response body ended/);
      expect(ranges).toEqual([undefined, 'bytes=1000-', 'bytes=1000-', 'bytes=1000-']);
      expect(await exists(path)).toBe(false);
    });

    it('counts again from one cut when a resume brings bytes', async () => {
      const { ranges, handler } = cutting([1000, 0, 0, 10, 0, 0, undefined]);
      const { url, dir, transport } = await setup(handler);
      const { saved } = await fetchBlob(transport, url, dir);
      expect(await saved).toBe(blob.length);
      expect(ranges).toHaveLength(7);
    });
  });
});
