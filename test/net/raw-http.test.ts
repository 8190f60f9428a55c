import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RawHttpPool, type RawResponse } from '../../src/net/raw-http.js';
import { makeTempDir } from '../../src/util/temp.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    (s as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

async function listen<T extends Server>(server: T): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An HTTP server that answers every request with `answer`, counting connections and requests. */
async function httpServer(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen = { connections: 0, requests: [] as { url: string; headers: IncomingMessage['headers'] }[] };
  const server = createServer((req, res) => {
    seen.requests.push({ url: req.url ?? '', headers: req.headers });
    answer(req, res);
  });
  server.on('connection', () => seen.connections++);
  return { host: await listen(server), seen };
}

/** A server that writes `raw` bytes (in the pieces given, a turn apart) to every connection, whatever it is asked. */
async function rawServer(pieces: (string | Buffer)[], opts: { end?: boolean } = {}) {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', async () => {
      for (const p of pieces) {
        socket.write(p);
        await new Promise((r) => setTimeout(r, 5));
      }
      if (opts.end !== false) socket.end();
    });
  });
  (server as unknown as { closeAllConnections: () => void }).closeAllConnections = () => {
    for (const s of sockets) s.destroy();
  };
  return listen(server);
}

/** Reads a whole body, taking at most `step` bytes per call and pausing every other call (the file's stages busy). */
async function readAll(res: RawResponse, step = Infinity): Promise<{ body: Buffer; received: number; pauses: number }> {
  const chunks: Buffer[] = [];
  let pauses = 0;
  let calls = 0;
  const received = await res.consume((view) => {
    calls++;
    if (calls % 2 === 0 && view.length > 1) {
      pauses++;
      const take = Math.min(step, view.length - 1);
      chunks.push(Buffer.from(view.subarray(0, take)));
      setTimeout(() => res.resume(), 1);
      return take;
    }
    const take = Math.min(step, view.length);
    chunks.push(Buffer.from(view.subarray(0, take)));
    if (take < view.length) {
      pauses++;
      setTimeout(() => res.resume(), 1);
    }
    return take;
  });
  return { body: Buffer.concat(chunks), received, pauses };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('RawHttpPool', () => {
  it('reads a Content-Length body byte for byte through a consumer that pauses, and keeps the connection', async () => {
    const blob = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 31) & 0xff;
    const { host, seen } = await httpServer((_req, res) => res.writeHead(200, { 'content-length': blob.length }).end(blob));
    const pool = new RawHttpPool();
    try {
      for (let i = 0; i < 3; i++) {
        const res = await pool.get(`http://${host}/v2/x/blobs/sha256:a?i=${i}`, { accept: '*/*', authorization: 'Bearer t' });
        expect(res.status).toBe(200);
        expect(res.header('Content-Length')).toBe(String(blob.length));
        const { body, received, pauses } = await readAll(res, 100_000);
        expect(received).toBe(blob.length);
        expect(sha(body)).toBe(sha(blob));
        expect(pauses).toBeGreaterThan(0);
      }
      // Sequential requests share one kept connection, and each was sent as asked.
      expect(seen.connections).toBe(1);
      expect(pool.connections).toBe(1);
      expect(seen.requests.map((r) => r.url)).toEqual([0, 1, 2].map((i) => `/v2/x/blobs/sha256:a?i=${i}`));
      expect(seen.requests[0]!.headers).toMatchObject({ host, accept: '*/*', authorization: 'Bearer t' });
    } finally {
      pool.close();
    }
  });

  it('decodes a chunked body split anywhere, with chunk extensions and trailers, and keeps the connection', async () => {
    const body = Buffer.from('a'.repeat(5000) + 'b'.repeat(70_000) + 'c');
    const framed = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${(5000).toString(16)};ext=1\r\n${'a'.repeat(5000)}\r\n${(70_000).toString(16)}\r\n${'b'.repeat(70_000)}\r\n1\r\nc\r\n0\r\nX-Trailer: yes\r\n\r\n`;
    // Cut into pieces that split the size lines, the CRLFs and the data.
    const cuts = [3, 40, 47, 48, 5049, 5052, 5060, 40_000, 75_070, 75_071, 75_080, framed.length - 3];
    const pieces: string[] = [];
    let at = 0;
    for (const c of cuts) {
      pieces.push(framed.slice(at, c));
      at = c;
    }
    pieces.push(framed.slice(at));
    const host = await rawServer(pieces, { end: false });
    const pool = new RawHttpPool();
    try {
      const res = await pool.get(`http://${host}/`, {});
      const { body: got, received } = await readAll(res, 33_333);
      expect(got.toString()).toBe(body.toString());
      expect(received).toBe(body.length);
    } finally {
      pool.close();
    }
  });

  it('reads a body that ends with the connection, and skips an interim 100 response', async () => {
    const host = await rawServer(['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: x\r\n', '\r\nhello ', 'world']);
    const pool = new RawHttpPool();
    try {
      const res = await pool.get(`http://${host}/`, {});
      expect(res.status).toBe(200);
      expect((await readAll(res)).body.toString()).toBe('hello world');
    } finally {
      pool.close();
    }
  });

  it('fails a body cut short with ECONNRESET and the bytes that had arrived', async () => {
    const host = await rawServer(['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', Buffer.alloc(600)]);
    const pool = new RawHttpPool();
    try {
      const res = await pool.get(`http://${host}/`, {});
      await expect(readAll(res)).rejects.toMatchObject({ code: 'ECONNRESET', bytesReceived: 600 });
    } finally {
      pool.close();
    }
  });

  it('fails clearly on a body longer than its Content-Length, a malformed head or chunk, and an unknown transfer-encoding', async () => {
    const cases: [string[], RegExp][] = [
      [['HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef'], /more than the response's content-length/],
      [['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'], /malformed chunked body: chunk size/],
      [['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY'], /no CRLF after a chunk/],
      [['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'], /unsupported transfer-encoding "gzip"/],
      [['HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n'], /invalid content-length/],
      [['SSH-2.0-OpenSSH_9.2\r\n\r\n'], /not an HTTP\/1.1 response: "SSH-2.0-OpenSSH_9.2"/],
      [['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n'], /malformed response header/],
    ];
    for (const [pieces, message] of cases) {
      const host = await rawServer(pieces, { end: false });
      const pool = new RawHttpPool();
      try {
        const got = await pool.get(`http://${host}/`, {}).then((res) => readAll(res));
        expect.fail(`no error for ${JSON.stringify(pieces)}: ${JSON.stringify(got.body.toString())}`);
      } catch (err) {
        expect((err as Error).message).toMatch(message);
      } finally {
        pool.close();
      }
    }
  });

  it('follows a redirect to another origin without the Authorization header', async () => {
    const storage = await httpServer((_req, res) => res.writeHead(200, { 'content-length': 4 }).end('blob'));
    const registry = await httpServer((_req, res) => res.writeHead(307, { location: `http://${storage.host}/s3/object?sig=1`, 'content-length': 0 }).end());
    const pool = new RawHttpPool();
    try {
      const res = await pool.get(`http://${registry.host}/v2/x/blobs/sha256:a`, { authorization: 'Bearer secret', accept: '*/*' });
      expect((await readAll(res)).body.toString()).toBe('blob');
      expect(registry.seen.requests[0]!.headers.authorization).toBe('Bearer secret');
      expect(storage.seen.requests[0]!.url).toBe('/s3/object?sig=1');
      expect(storage.seen.requests[0]!.headers.authorization).toBeUndefined();
      expect(storage.seen.requests[0]!.headers.accept).toBe('*/*');
    } finally {
      pool.close();
    }
  });

  it('sends a request again on a new connection when the kept one was closed by the server', async () => {
    const { host, seen } = await httpServer((_req, res) => res.writeHead(200, { 'content-length': 2 }).end('ok'));
    const pool = new RawHttpPool();
    try {
      expect((await readAll(await pool.get(`http://${host}/a`, {}))).body.toString()).toBe('ok');
      // The server drops its idle connections.
      (servers[0] as unknown as { closeIdleConnections(): void }).closeIdleConnections();
      await new Promise((r) => setTimeout(r, 50));
      expect((await readAll(await pool.get(`http://${host}/b`, {}))).body.toString()).toBe('ok');
      expect(seen.requests.map((r) => r.url)).toEqual(['/a', '/b']);
      expect(seen.connections).toBe(2);
    } finally {
      pool.close();
    }
  });

  it('hands back the first bytes of an error response, and aborts a request waiting for its head', async () => {
    const { host } = await httpServer((req, res) => {
      if (req.url === '/slow') return; // never answers
      if (req.url === '/empty') return void res.writeHead(404, { 'content-length': 0 }).end();
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="x"', 'content-length': 100_000 }).end(Buffer.alloc(100_000, 0x41));
    });
    const pool = new RawHttpPool();
    try {
      const res = await pool.get(`http://${host}/denied`, {});
      expect(res.status).toBe(401);
      expect(res.header('www-authenticate')).toBe('Bearer realm="x"');
      const first = await res.readSome(65_536);
      expect(first.length).toBe(65_536);
      expect(first.every((b) => b === 0x41)).toBe(true);
      const empty = await pool.get(`http://${host}/empty`, {});
      expect(empty.status).toBe(404);
      expect(await empty.readSome(65_536)).toEqual(Buffer.alloc(0));
      expect(await (await pool.get(`http://${host}/empty`, {})).consume(() => 0)).toBe(0);
      const controller = new AbortController();
      const slow = pool.get(`http://${host}/slow`, {}, controller.signal);
      setTimeout(() => controller.abort(), 50);
      await expect(slow).rejects.toThrow('request aborted');
    } finally {
      pool.close();
    }
  });

  it('fails a body under way when the pool is closed, and refuses requests after', async () => {
    const host = await rawServer(['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', Buffer.alloc(10)], { end: false });
    const pool = new RawHttpPool();
    const res = await pool.get(`http://${host}/`, {});
    const reading = readAll(res);
    await new Promise((r) => setTimeout(r, 50));
    pool.close();
    await expect(reading).rejects.toMatchObject({ bytesReceived: 10 });
    await expect(pool.get(`http://${host}/`, {})).rejects.toThrow('the connection pool is closed');
  });

  it('does not keep a connection the response closes, and a response done with its connection leaves it alone', async () => {
    const { host, seen } = await httpServer((req, res) => {
      if (req.url === '/close') res.setHeader('connection', 'close');
      res.writeHead(200, { 'content-length': 2 });
      // `b`'s head comes at once and its body a little later: its connection is busy while `a` is discarded.
      res.flushHeaders();
      setTimeout(() => res.end('ok'), req.url === '/b' ? 100 : 0);
    });
    const pool = new RawHttpPool();
    try {
      // Connection: close, then a request on a new connection: no failed attempt on the closed one.
      await readAll(await pool.get(`http://${host}/close`, {}));
      const a = await pool.get(`http://${host}/a`, {});
      await readAll(a);
      expect(seen.connections).toBe(2);
      // `a`'s connection went back to the pool and carries `b`: discarding `a` now must not touch it.
      const b = await pool.get(`http://${host}/b`, {});
      a.discard();
      expect((await readAll(b)).body.toString()).toBe('ok');
      expect(seen.connections).toBe(2);
      expect(seen.requests.map((r) => r.url)).toEqual(['/close', '/a', '/b']);
    } finally {
      pool.close();
    }
  });

  it('does not keep an HTTP/1.0 connection without keep-alive, and fails a close-framed body the pool cuts', async () => {
    const host10 = await rawServer(['HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'], { end: false });
    const pool = new RawHttpPool();
    try {
      await readAll(await pool.get(`http://${host10}/`, {}));
      await readAll(await pool.get(`http://${host10}/`, {}));
      expect(pool.connections).toBe(2);
      // A body that ends with the connection, cut by our own close: a failure, not a complete body.
      const hostOpen = await rawServer(['HTTP/1.1 200 OK\r\n\r\npart'], { end: false });
      const res = await pool.get(`http://${hostOpen}/`, {});
      const reading = readAll(res);
      await new Promise((r) => setTimeout(r, 50));
      pool.close();
      await expect(reading).rejects.toMatchObject({ code: 'ECONNABORTED', bytesReceived: 4 });
    } finally {
      pool.close();
    }
  });

  it('refuses a header value that would split the request', async () => {
    const { host, seen } = await httpServer((_req, res) => res.end());
    const pool = new RawHttpPool();
    try {
      await expect(pool.get(`http://${host}/`, { 'x-a': 'b\r\nInjected: 1' })).rejects.toThrow('invalid request header "x-a"');
      expect(seen.requests).toEqual([]);
    } finally {
      pool.close();
    }
  });

  it('reads over TLS, verifying the server against the CA it is given', async () => {
    await using dir = await makeTempDir('pbtls-');
    const key = join(dir.path, 'key.pem');
    const cert = join(dir.path, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
    const blob = Buffer.alloc(2 * 1024 * 1024, 7);
    const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      if (req.url === '/close') res.setHeader('connection', 'close');
      res.writeHead(200, { 'content-length': blob.length }).end(blob);
    });
    const port = (await listen(server)).split(':')[1];
    const trusted = new RawHttpPool({ ca: readFileSync(cert) });
    const untrusted = new RawHttpPool();
    try {
      const res = await trusted.get(`https://localhost:${port}/blob`, {});
      const { body } = await readAll(res, 300_000);
      expect(sha(body)).toBe(sha(blob));
      await expect(untrusted.get(`https://localhost:${port}/blob`, {})).rejects.toThrow(/self[- ]signed certificate/);
      // The server closes after the body (Connection: close) while nothing reads it yet: the body is whole all the same.
      for (let i = 0; i < 5; i++) {
        const closing = await trusted.get(`https://localhost:${port}/close`, {});
        await new Promise((r) => setTimeout(r, 50));
        expect(sha((await readAll(closing, 300_000)).body)).toBe(sha(blob));
      }
    } finally {
      trusted.close();
      untrusted.close();
    }
  });
});
